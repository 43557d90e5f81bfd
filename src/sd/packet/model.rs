//! The JSON of the Packet / Equinix Metal API that discovery reads (`GET /projects`,
//! `GET /projects/{id}`, `GET /projects/{id}/devices`) and the mapping of one device to one
//! file_sd target group. Pure: readers in, target groups out; no sockets here.
//!
//! Shapes follow the Metal OpenAPI spec (equinix-labs/metal-go `spec/oas3.fetched`): list
//! answers are `{"<items>": [...], "meta": {"next": {"href": ...} | null, ...}}`. Every field
//! is optional here because devices in `queued`/`provisioning` states, layer-2 devices and
//! answers without `include=` lack many of them; a missing field gives an empty label, never
//! an error.
//!
//! Pages are decoded item by item ([`parse_page`]): a device is turned into its target as
//! soon as it is read, so a page of 1000 devices never sits in memory as 1000 structs.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::marker::PhantomData;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess};
use serde::Deserialize;

use crate::sd::TargetGroup;

/// `{"href": "..."}`, the API's link object.
#[derive(Deserialize, Debug, Default, Clone, PartialEq, Eq)]
pub struct Href {
    pub href: Option<String>,
}

/// Pagination block of a list answer. `next` is `null` or absent on the last page.
#[derive(Deserialize, Debug, Default, Clone, PartialEq, Eq)]
pub struct Meta {
    pub next: Option<Href>,
    pub current_page: Option<u64>,
    pub last_page: Option<u64>,
    pub total: Option<u64>,
}

#[derive(Deserialize, Debug, Default, Clone, PartialEq, Eq)]
pub struct Organization {
    pub id: Option<String>,
    pub name: Option<String>,
    pub href: Option<String>,
}

#[derive(Deserialize, Debug, Default, Clone, PartialEq, Eq)]
pub struct Project {
    pub id: Option<String>,
    pub name: Option<String>,
    pub href: Option<String>,
    /// Full only with `include=organization`; otherwise just `{"href": ...}`.
    pub organization: Option<Organization>,
}

#[derive(Deserialize, Debug, Default, Clone, PartialEq, Eq)]
pub struct Slug {
    pub slug: Option<String>,
}

#[derive(Deserialize, Debug, Default, Clone, PartialEq, Eq)]
pub struct Code {
    pub code: Option<String>,
}

#[derive(Deserialize, Debug, Default, Clone, PartialEq, Eq)]
pub struct IpAddress {
    pub address: Option<String>,
    pub address_family: Option<u32>,
    pub public: Option<bool>,
    pub management: Option<bool>,
}

/// The fields of a device that become labels; everything else in the answer is skipped
/// without being stored.
#[derive(Deserialize, Debug, Default, Clone, PartialEq, Eq)]
pub struct Device {
    pub id: Option<String>,
    pub short_id: Option<String>,
    pub hostname: Option<String>,
    pub state: Option<String>,
    pub billing_cycle: Option<String>,
    pub switch_uuid: Option<String>,
    pub tags: Option<Vec<String>>,
    pub plan: Option<Slug>,
    pub operating_system: Option<Slug>,
    pub facility: Option<Code>,
    pub metro: Option<Code>,
    pub project: Option<Project>,
    pub ip_addresses: Option<Vec<IpAddress>>,
}

/// Which management address becomes `__address__`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressKind {
    /// The original's choice: the private (10.x) management IPv4.
    PrivateIpv4,
    PublicIpv4,
    PublicIpv6,
}

impl AddressKind {
    pub fn parse(s: &str) -> Option<AddressKind> {
        match s {
            "private-ipv4" => Some(AddressKind::PrivateIpv4),
            "public-ipv4" => Some(AddressKind::PublicIpv4),
            "public-ipv6" => Some(AddressKind::PublicIpv6),
            _ => None,
        }
    }
}

/// The project labels of every device listed under one project.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ProjectInfo {
    pub id: String,
    pub name: String,
    pub organization_id: String,
    pub organization_name: String,
}

impl ProjectInfo {
    pub fn from_project(p: &Project) -> ProjectInfo {
        let org = p.organization.clone().unwrap_or_default();
        ProjectInfo {
            id: p
                .id
                .clone()
                .or_else(|| p.href.as_deref().and_then(id_from_href))
                .unwrap_or_default(),
            name: p.name.clone().unwrap_or_default(),
            organization_id: org
                .id
                .or_else(|| org.href.as_deref().and_then(id_from_href))
                .unwrap_or_default(),
            organization_name: org.name.unwrap_or_default(),
        }
    }
}

/// The last path segment of an href (`/metal/v1/organizations/<id>` → `<id>`), which is how
/// the API names an object it did not include.
pub fn id_from_href(href: &str) -> Option<String> {
    let last = href.trim_end_matches('/').rsplit('/').next()?;
    (!last.is_empty()).then(|| last.to_string())
}

/// Management addresses picked the way the original (packngo `GetNetworkInfo`) picks them:
/// only `management` addresses count, the last match of each kind wins, and any non-IPv4
/// management address is the "public IPv6" whatever its `public` flag says.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct NetworkInfo<'a> {
    pub private_ipv4: &'a str,
    pub public_ipv4: &'a str,
    pub public_ipv6: &'a str,
}

pub fn network_info(ips: &[IpAddress]) -> NetworkInfo<'_> {
    let mut n = NetworkInfo::default();
    for ip in ips {
        let Some(addr) = ip.address.as_deref() else {
            continue;
        };
        if !ip.management.unwrap_or(false) || addr.is_empty() {
            continue;
        }
        // `address_family` is missing in some older answers: the text tells.
        let v4 = match ip.address_family {
            Some(f) => f == 4,
            None => !addr.contains(':'),
        };
        if !v4 {
            n.public_ipv6 = addr;
        } else if ip.public.unwrap_or(false) {
            n.public_ipv4 = addr;
        } else {
            n.private_ipv4 = addr;
        }
    }
    n
}

/// The target group of one device, or `None` when it has no address of the chosen kind
/// (provisioning, layer-2 or deleted devices): such a device is left out rather than written
/// as `":9100"`, which Prometheus would scrape on localhost.
pub fn device_group(
    d: &Device,
    project: &ProjectInfo,
    kind: AddressKind,
    port: u16,
) -> Option<TargetGroup> {
    let net = network_info(d.ip_addresses.as_deref().unwrap_or(&[]));
    let address = match kind {
        AddressKind::PrivateIpv4 => net.private_ipv4,
        AddressKind::PublicIpv4 => net.public_ipv4,
        AddressKind::PublicIpv6 => net.public_ipv6,
    };
    if address.is_empty() {
        return None;
    }
    let target = if address.contains(':') {
        format!("[{address}]:{port}")
    } else {
        format!("{address}:{port}")
    };
    // Project and organization come from the project the device was listed under; the
    // device's own `project` object is only a fallback (it is `{"href"}` unless included).
    let own = d.project.as_ref().map(ProjectInfo::from_project);
    let pick = |from_list: &str, own: Option<&str>| -> String {
        if from_list.is_empty() {
            own.unwrap_or_default().to_string()
        } else {
            from_list.to_string()
        }
    };
    let o = own.as_ref();
    let s = |v: &Option<String>| v.clone().unwrap_or_default();
    let tags = match d.tags.as_deref() {
        // The original's format: leading and trailing commas so `.*,role:db,.*` matches whole
        // tags; no tags is "" (not ",,").
        Some(t) if !t.is_empty() => format!(",{},", t.join(",")),
        _ => String::new(),
    };
    let labels: BTreeMap<String, String> = [
        ("__address__", target.clone()),
        ("__meta_packet_billing_cycle", s(&d.billing_cycle)),
        ("__meta_packet_device_id", s(&d.id)),
        (
            "__meta_packet_facility",
            d.facility.as_ref().map(|f| s(&f.code)).unwrap_or_default(),
        ),
        ("__meta_packet_hostname", s(&d.hostname)),
        (
            "__meta_packet_metro",
            d.metro.as_ref().map(|m| s(&m.code)).unwrap_or_default(),
        ),
        (
            "__meta_packet_operating_system",
            d.operating_system
                .as_ref()
                .map(|p| s(&p.slug))
                .unwrap_or_default(),
        ),
        (
            "__meta_packet_organization_id",
            pick(
                &project.organization_id,
                o.map(|p| p.organization_id.as_str()),
            ),
        ),
        (
            "__meta_packet_organization_name",
            pick(
                &project.organization_name,
                o.map(|p| p.organization_name.as_str()),
            ),
        ),
        (
            "__meta_packet_plan",
            d.plan.as_ref().map(|p| s(&p.slug)).unwrap_or_default(),
        ),
        ("__meta_packet_private_ipv4", net.private_ipv4.to_string()),
        (
            "__meta_packet_project_id",
            pick(&project.id, o.map(|p| p.id.as_str())),
        ),
        (
            "__meta_packet_project_name",
            pick(&project.name, o.map(|p| p.name.as_str())),
        ),
        ("__meta_packet_public_ipv4", net.public_ipv4.to_string()),
        ("__meta_packet_public_ipv6", net.public_ipv6.to_string()),
        ("__meta_packet_short_id", s(&d.short_id)),
        ("__meta_packet_state", s(&d.state)),
        ("__meta_packet_switch_uuid", s(&d.switch_uuid)),
        ("__meta_packet_tags", tags),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    Some(TargetGroup {
        targets: vec![target],
        labels,
    })
}

/// Label names of every target, sorted (the order they are written in).
pub const LABELS: [&str; 19] = [
    "__address__",
    "__meta_packet_billing_cycle",
    "__meta_packet_device_id",
    "__meta_packet_facility",
    "__meta_packet_hostname",
    "__meta_packet_metro",
    "__meta_packet_operating_system",
    "__meta_packet_organization_id",
    "__meta_packet_organization_name",
    "__meta_packet_plan",
    "__meta_packet_private_ipv4",
    "__meta_packet_project_id",
    "__meta_packet_project_name",
    "__meta_packet_public_ipv4",
    "__meta_packet_public_ipv6",
    "__meta_packet_short_id",
    "__meta_packet_state",
    "__meta_packet_switch_uuid",
    "__meta_packet_tags",
];

/// One device's target group held compactly until it is written: the label values in
/// [`LABELS`] order in one string, with their end offsets. A refresh of 10,000 devices keeps
/// 10,000 of these; as serialized JSON (names, quotes) they would take about three times the
/// memory, as `BTreeMap`s far more.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Target {
    /// Values concatenated; `__address__` first, so targets sort by address.
    text: Box<str>,
    ends: [u32; LABELS.len()],
}

impl Target {
    /// Compacts a group made by [`device_group`] (one target, the labels of [`LABELS`]).
    pub fn from_group(g: &TargetGroup) -> Option<Target> {
        if g.targets.len() != 1 || g.labels.len() != LABELS.len() {
            return None;
        }
        let mut text = String::new();
        let mut ends = [0u32; LABELS.len()];
        for (i, name) in LABELS.iter().enumerate() {
            text.push_str(g.labels.get(*name)?);
            ends[i] = u32::try_from(text.len()).ok()?;
        }
        (g.targets[0] == g.labels["__address__"]).then(|| Target {
            text: text.into_boxed_str(),
            ends,
        })
    }

    fn value(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text[start..self.ends[i] as usize]
    }

    /// The target address.
    pub fn address(&self) -> &str {
        self.value(0)
    }

    /// `{"targets":["…"],"labels":{…}}`, byte for byte what serde_json makes of the group.
    pub fn write_json(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        out.write_all(b"{\"targets\":[")?;
        serde_json::to_writer(&mut *out, self.address())?;
        out.write_all(b"],\"labels\":{")?;
        for (i, name) in LABELS.iter().enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            out.write_all(b"\"")?;
            out.write_all(name.as_bytes())?;
            out.write_all(b"\":")?;
            serde_json::to_writer(&mut *out, self.value(i))?;
        }
        out.write_all(b"}}")
    }
}

/// Decodes one list page from `r`, handing each element of the `key` array (`"devices"`,
/// `"projects"`) to `each` as it is read; returns the page's `meta`. Other fields are skipped.
pub fn parse_page<T: DeserializeOwned, R: Read>(
    r: R,
    key: &'static str,
    mut each: impl FnMut(T),
) -> Result<Meta, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_reader(r);
    let meta = PageSeed {
        key,
        each: &mut each,
        _item: PhantomData,
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok(meta)
}

struct PageSeed<'f, T, F> {
    key: &'static str,
    each: &'f mut F,
    _item: PhantomData<fn(T)>,
}

impl<'de, T: DeserializeOwned, F: FnMut(T)> DeserializeSeed<'de> for PageSeed<'_, T, F> {
    type Value = Meta;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Meta, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, T: DeserializeOwned, F: FnMut(T)> de::Visitor<'de> for PageSeed<'_, T, F> {
    type Value = Meta;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "an object with a {:?} array", self.key)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Meta, A::Error> {
        let mut meta = Meta::default();
        let mut seen = false;
        while let Some(k) = map.next_key::<String>()? {
            if k == self.key {
                map.next_value_seed(Items::<T, F> {
                    each: &mut *self.each,
                    _item: PhantomData,
                })?;
                seen = true;
            } else if k == "meta" {
                meta = map.next_value::<Option<Meta>>()?.unwrap_or_default();
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        if !seen {
            return Err(de::Error::missing_field(self.key));
        }
        Ok(meta)
    }
}

struct Items<'f, T, F> {
    each: &'f mut F,
    _item: PhantomData<fn(T)>,
}

impl<'de, T: DeserializeOwned, F: FnMut(T)> DeserializeSeed<'de> for Items<'_, T, F> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, T: DeserializeOwned, F: FnMut(T)> de::Visitor<'de> for Items<'_, T, F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element::<T>()? {
            (self.each)(item);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Fixtures: fake-API answers in the shape docs/packet-sd.md describes (the Metal OpenAPI
    // spec and the original repository's packet.json example).
    const PROJECTS: &str = include_str!("../../../tests/fixtures/packet-sd/projects.json");
    const DEVICES_1: &str = include_str!("../../../tests/fixtures/packet-sd/devices-page1.json");
    const DEVICES_2: &str = include_str!("../../../tests/fixtures/packet-sd/devices-page2.json");

    fn devices(text: &str) -> (Vec<Device>, Meta) {
        let mut v = Vec::new();
        let meta = parse_page(text.as_bytes(), "devices", |d: Device| v.push(d)).unwrap();
        (v, meta)
    }

    fn prod() -> ProjectInfo {
        ProjectInfo {
            id: "2f0a3c8e-5d7b-4a19-8c31-7be0f6a4d222".into(),
            name: "prod".into(),
            organization_id: "c7a4e1f2-8b3d-4c5e-9f60-1a2b3c4d5e6f".into(),
            organization_name: "Acme Ops".into(),
        }
    }

    #[test]
    fn projects_page_with_and_without_included_organization() {
        let mut v = Vec::new();
        let meta = parse_page(PROJECTS.as_bytes(), "projects", |p: Project| v.push(p)).unwrap();
        assert_eq!(meta.next, None);
        assert_eq!(meta.last_page, Some(1));
        let infos: Vec<ProjectInfo> = v.iter().map(ProjectInfo::from_project).collect();
        assert_eq!(infos[0], prod());
        // Organization given only as a link: the id comes from the href, no name.
        assert_eq!(
            infos[1],
            ProjectInfo {
                id: "9b7d0e14-3c2a-4f58-a6e1-0d9c8b7a6f55".into(),
                name: "lab".into(),
                organization_id: "c7a4e1f2-8b3d-4c5e-9f60-1a2b3c4d5e6f".into(),
                organization_name: String::new(),
            }
        );
    }

    #[test]
    fn device_pages_and_next_link() {
        let (d1, m1) = devices(DEVICES_1);
        assert_eq!(d1.len(), 2);
        assert!(m1.next.is_some());
        assert_eq!(m1.current_page, Some(1));
        let (d2, m2) = devices(DEVICES_2);
        assert_eq!(d2.len(), 1);
        assert_eq!(m2.next, None);
    }

    #[test]
    fn edge_device_labels_match_the_original() {
        let (d, _) = devices(DEVICES_1);
        let g = device_group(&d[0], &prod(), AddressKind::PrivateIpv4, 9100).unwrap();
        assert_eq!(g.targets, ["10.70.12.3:9100"]);
        let l = |k: &str| g.labels.get(k).map(String::as_str).unwrap();
        assert_eq!(l("__address__"), "10.70.12.3:9100");
        assert_eq!(l("__meta_packet_public_ipv4"), "139.178.64.11"); // elastic .80.5 ignored
        assert_eq!(l("__meta_packet_private_ipv4"), "10.70.12.3");
        assert_eq!(l("__meta_packet_public_ipv6"), "2604:1380:4641:c500::1");
        assert_eq!(l("__meta_packet_tags"), ",role:edge,prod,");
        assert_eq!(l("__meta_packet_facility"), "sv15");
        assert_eq!(l("__meta_packet_metro"), "sv");
        assert_eq!(l("__meta_packet_plan"), "c3.small.x86");
        assert_eq!(l("__meta_packet_operating_system"), "ubuntu_22_04");
        assert_eq!(l("__meta_packet_short_id"), "6a1c3e62");
        assert_eq!(l("__meta_packet_switch_uuid"), "d4f1b2a0");
        assert_eq!(l("__meta_packet_state"), "active");
        assert_eq!(l("__meta_packet_billing_cycle"), "hourly");
        assert_eq!(l("__meta_packet_organization_name"), "Acme Ops");
        assert_eq!(g.labels.len(), 19);
        assert!(g.validate().is_ok());
    }

    #[test]
    fn provisioning_device_without_addresses_is_left_out() {
        let (d, _) = devices(DEVICES_1);
        assert_eq!(d[1].state.as_deref(), Some("provisioning"));
        for kind in [
            AddressKind::PrivateIpv4,
            AddressKind::PublicIpv4,
            AddressKind::PublicIpv6,
        ] {
            assert_eq!(device_group(&d[1], &prod(), kind, 9100), None);
        }
    }

    #[test]
    fn public_addresses_on_request() {
        let (d, _) = devices(DEVICES_1);
        let g = device_group(&d[0], &prod(), AddressKind::PublicIpv4, 9100).unwrap();
        assert_eq!(g.targets, ["139.178.64.11:9100"]);
        let g = device_group(&d[0], &prod(), AddressKind::PublicIpv6, 9273).unwrap();
        assert_eq!(g.targets, ["[2604:1380:4641:c500::1]:9273"]);
        // db-01 has no public IPv4: left out in that mode.
        let (d2, _) = devices(DEVICES_2);
        assert_eq!(
            device_group(&d2[0], &prod(), AddressKind::PublicIpv4, 9100),
            None
        );
    }

    #[test]
    fn device_missing_optional_fields_still_has_a_target() {
        // Everything but one management address absent or null, as the API sends for a
        // device whose plan, OS, facility and project were not included or are gone.
        let text = r#"{"devices":[{"id":"d1","plan":null,"facility":null,"tags":null,
            "ip_addresses":[{"address":"10.0.0.9","management":true}]}],"meta":null}"#;
        let (d, meta) = devices(text);
        assert_eq!(meta, Meta::default());
        let g = device_group(
            &d[0],
            &ProjectInfo::default(),
            AddressKind::PrivateIpv4,
            9100,
        )
        .unwrap();
        assert_eq!(g.targets, ["10.0.0.9:9100"]);
        assert_eq!(g.labels["__meta_packet_plan"], "");
        assert_eq!(g.labels["__meta_packet_tags"], "");
        assert_eq!(g.labels["__meta_packet_project_id"], "");
        assert_eq!(g.labels.len(), 19);
    }

    #[test]
    fn own_project_is_a_fallback() {
        let (d, _) = devices(DEVICES_1);
        let g = device_group(&d[0], &ProjectInfo::default(), AddressKind::PrivateIpv4, 1).unwrap();
        assert_eq!(g.labels["__meta_packet_project_name"], "prod");
        assert_eq!(
            g.labels["__meta_packet_organization_id"],
            "c7a4e1f2-8b3d-4c5e-9f60-1a2b3c4d5e6f"
        );
    }

    #[test]
    fn malformed_pages_are_errors_with_position() {
        let e = parse_page(&b"{\"devices\":[{\"id\":"[..], "devices", |_: Device| {}).unwrap_err();
        assert!(e.is_eof(), "{e}");
        let e = parse_page(&b"{\"meta\":{}}"[..], "devices", |_: Device| {}).unwrap_err();
        assert!(e.to_string().contains("missing field `devices`"), "{e}");
        let e = parse_page(
            &b"{\"devices\":[{\"hostname\":5}]}"[..],
            "devices",
            |_: Device| {},
        )
        .unwrap_err();
        assert!(e.to_string().contains("column"), "{e}");
        let e = parse_page(&b"[] x"[..], "devices", |_: Device| {}).unwrap_err();
        assert!(e.is_data() || e.is_syntax(), "{e}");
    }

    #[test]
    fn compact_target_writes_what_serde_writes() {
        let (d, _) = devices(DEVICES_1);
        let mut g = device_group(&d[0], &prod(), AddressKind::PublicIpv6, 9100).unwrap();
        // Escapes and non-ASCII survive (the original's example org name had U+2019).
        g.labels.insert(
            "__meta_packet_hostname".into(),
            "edge \"01\"\\ \u{2019}\n".into(),
        );
        let t = Target::from_group(&g).unwrap();
        assert_eq!(t.address(), "[2604:1380:4641:c500::1]:9100");
        let mut out = Vec::new();
        t.write_json(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            serde_json::to_string(&g).unwrap()
        );
        g.labels.remove("__meta_packet_tags");
        assert_eq!(Target::from_group(&g), None);
    }

    #[test]
    fn href_ids() {
        assert_eq!(
            id_from_href("/metal/v1/organizations/abc/").as_deref(),
            Some("abc")
        );
        assert_eq!(id_from_href(""), None);
    }
}
