//! A small regular-expression matcher for the collectors' include/exclude flags
//! (`--collector.filesystem.mount-points-exclude`, `--collector.netdev.device-exclude`, ...).
//!
//! Why not a regex crate: regex-lite, the smallest, adds about 60 KiB to the static binary, a
//! tenth of the node-only budget (700 KiB), for flags that only ever hold patterns like
//! node_exporter's defaults. This covers the RE2/Go syntax those use: literals, `.`, classes
//! (`[a-z]`, `[^/]`, `\d \w \s` and their negations), groups `(...)` / `(?:...)`,
//! alternation, `* + ?`, counted repetition `{n}` `{n,}` `{n,m}` (lazy forms accepted, they do
//! not change whether something matches), and the anchors `^ $ \A \z`. Anything else (flags
//! like `(?i)`, `\b`, POSIX classes `[[:alpha:]]`, backreferences) is refused when the flag is
//! parsed, with a clear message, rather than matched differently from node_exporter. Where
//! Go's syntax is odd it is followed: `{` that does not start a valid count is a literal, a
//! count with a leading zero (`x{01}`) is not a count.
//!
//! Matching is unanchored, like Go's `MatchString`, and runs as a Thompson NFA simulation
//! (Pike VM), so it takes time linear in the input whatever the pattern.

/// A compiled pattern.
#[derive(Clone, Debug)]
pub struct Pattern {
    prog: Vec<Inst>,
}

#[derive(Clone, Debug, PartialEq)]
struct Class {
    ranges: Vec<(char, char)>,
    negated: bool,
}

impl Class {
    fn matches(&self, c: char) -> bool {
        self.ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != self.negated
    }
}

#[derive(Clone, Debug)]
enum Node {
    Class(Class),
    Start,
    End,
    Concat(Vec<Node>),
    Alt(Vec<Node>),
    Repeat(Box<Node>, u32, Option<u32>),
}

#[derive(Clone, Debug)]
enum Inst {
    Char(Class),
    Split(usize, usize),
    Jmp(usize),
    Start,
    End,
    Match,
}

/// Programs larger than this (from big counted repetitions) are refused.
const MAX_INSTS: usize = 20_000;

impl Pattern {
    pub fn new(re: &str) -> Result<Pattern, String> {
        let mut p = Parser {
            chars: re.chars().collect(),
            pos: 0,
            depth: 0,
        };
        let node = p.alt()?;
        if p.pos < p.chars.len() {
            return Err(format!("unexpected ) at offset {}", p.pos));
        }
        let mut prog = Vec::new();
        compile(&node, &mut prog)?;
        prog.push(Inst::Match);
        Ok(Pattern { prog })
    }

    /// True if the pattern matches anywhere in `s`.
    pub fn is_match(&self, s: &str) -> bool {
        let chars: Vec<char> = s.chars().collect();
        let n = self.prog.len();
        let mut clist = Threads::new(n);
        let mut nlist = Threads::new(n);
        let mut stack = Vec::new();
        for i in 0..=chars.len() {
            // Unanchored: a new thread starts at every position.
            if self.add(&mut clist, 0, i, chars.len(), &mut stack) {
                return true;
            }
            if i == chars.len() {
                break;
            }
            nlist.clear();
            for k in 0..clist.len() {
                let pc = clist.dense[k];
                if let Inst::Char(c) = &self.prog[pc] {
                    if c.matches(chars[i])
                        && self.add(&mut nlist, pc + 1, i + 1, chars.len(), &mut stack)
                    {
                        return true;
                    }
                }
            }
            std::mem::swap(&mut clist, &mut nlist);
        }
        false
    }

    /// Adds `pc` and everything reachable from it without consuming input; true on Match.
    fn add(
        &self,
        list: &mut Threads,
        pc: usize,
        pos: usize,
        len: usize,
        stack: &mut Vec<usize>,
    ) -> bool {
        stack.clear();
        stack.push(pc);
        while let Some(pc) = stack.pop() {
            if !list.insert(pc) {
                continue;
            }
            match self.prog[pc] {
                Inst::Match => return true,
                Inst::Jmp(t) => stack.push(t),
                Inst::Split(a, b) => {
                    stack.push(b);
                    stack.push(a);
                }
                Inst::Start if pos == 0 => stack.push(pc + 1),
                Inst::End if pos == len => stack.push(pc + 1),
                _ => {}
            }
        }
        false
    }
}

/// A sparse set of program counters.
struct Threads {
    dense: Vec<usize>,
    seen: Vec<bool>,
}

impl Threads {
    fn new(n: usize) -> Threads {
        Threads {
            dense: Vec::with_capacity(n),
            seen: vec![false; n],
        }
    }
    fn len(&self) -> usize {
        self.dense.len()
    }
    fn clear(&mut self) {
        for &pc in &self.dense {
            self.seen[pc] = false;
        }
        self.dense.clear();
    }
    fn insert(&mut self, pc: usize) -> bool {
        if self.seen[pc] {
            return false;
        }
        self.seen[pc] = true;
        self.dense.push(pc);
        true
    }
}

fn compile(node: &Node, prog: &mut Vec<Inst>) -> Result<(), String> {
    if prog.len() > MAX_INSTS {
        return Err("pattern too large".into());
    }
    match node {
        Node::Class(c) => prog.push(Inst::Char(c.clone())),
        Node::Start => prog.push(Inst::Start),
        Node::End => prog.push(Inst::End),
        Node::Concat(v) => {
            for n in v {
                compile(n, prog)?;
            }
        }
        Node::Alt(v) => {
            let mut jumps = Vec::new();
            for (i, n) in v.iter().enumerate() {
                if i + 1 < v.len() {
                    let split = prog.len();
                    prog.push(Inst::Split(split + 1, 0));
                    compile(n, prog)?;
                    jumps.push(prog.len());
                    prog.push(Inst::Jmp(0));
                    let next = prog.len();
                    prog[split] = Inst::Split(split + 1, next);
                } else {
                    compile(n, prog)?;
                }
            }
            let end = prog.len();
            for j in jumps {
                prog[j] = Inst::Jmp(end);
            }
        }
        Node::Repeat(n, min, max) => {
            for _ in 0..*min {
                compile(n, prog)?;
            }
            match max {
                None => {
                    let split = prog.len();
                    prog.push(Inst::Split(split + 1, 0));
                    compile(n, prog)?;
                    prog.push(Inst::Jmp(split));
                    let end = prog.len();
                    prog[split] = Inst::Split(split + 1, end);
                }
                Some(max) => {
                    let mut splits = Vec::new();
                    for _ in *min..*max {
                        splits.push(prog.len());
                        prog.push(Inst::Split(prog.len() + 1, 0));
                        compile(n, prog)?;
                    }
                    let end = prog.len();
                    for s in splits {
                        prog[s] = Inst::Split(s + 1, end);
                    }
                }
            }
        }
    }
    Ok(())
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    /// Groups open at the cursor.
    depth: usize,
}

/// Deepest group nesting accepted. Go refuses trees higher than 1000; parsing, compiling and
/// dropping recurse once per level, and 1000 levels overflow a 2 MiB thread stack in a debug
/// build, while real patterns nest two or three deep.
const MAX_DEPTH: usize = 100;

const DIGIT: &[(char, char)] = &[('0', '9')];
const WORD: &[(char, char)] = &[('0', '9'), ('A', 'Z'), ('_', '_'), ('a', 'z')];
const SPACE: &[(char, char)] = &[('\t', '\n'), ('\x0c', '\r'), (' ', ' ')];

fn complement(ranges: &[(char, char)]) -> Vec<(char, char)> {
    let mut out = Vec::new();
    let mut next = 0u32;
    for &(lo, hi) in ranges {
        if (lo as u32) > next {
            if let (Some(a), Some(b)) = (char::from_u32(next), char::from_u32(lo as u32 - 1)) {
                out.push((a, b));
            }
        }
        next = hi as u32 + 1;
    }
    if let Some(a) = char::from_u32(next) {
        out.push((a, char::MAX));
    }
    out
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn err<T>(&self, msg: &str) -> Result<T, String> {
        Err(format!("{msg} at offset {}", self.pos))
    }

    fn alt(&mut self) -> Result<Node, String> {
        let mut alts = vec![self.concat()?];
        while self.peek() == Some('|') {
            self.pos += 1;
            alts.push(self.concat()?);
        }
        Ok(if alts.len() == 1 {
            alts.pop().unwrap_or(Node::Concat(Vec::new()))
        } else {
            Node::Alt(alts)
        })
    }

    fn concat(&mut self) -> Result<Node, String> {
        let mut v = Vec::new();
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            v.push(self.repeat()?);
        }
        Ok(Node::Concat(v))
    }

    /// `{n}`, `{n,}` or `{n,m}` at the cursor (which is on the `{`), read as Go's
    /// `parseRepeat` reads it: decimal numbers without a leading zero, any number of digits.
    /// Anything else makes the `{` a literal; a count above 1000 is an error, as in Go.
    fn counted(&mut self) -> Result<Option<(u32, Option<u32>)>, String> {
        let mut i = self.pos + 1;
        let Some(min) = self.number(&mut i) else {
            return Ok(None);
        };
        let max = if self.chars.get(i) == Some(&',') {
            i += 1;
            if self.chars.get(i) == Some(&'}') {
                None
            } else {
                match self.number(&mut i) {
                    Some(m) => Some(m),
                    None => return Ok(None),
                }
            }
        } else {
            Some(min)
        };
        if self.chars.get(i) != Some(&'}') {
            return Ok(None);
        }
        if min > 1000 || max.is_some_and(|m| m > 1000 || m < min) {
            return self.err("invalid repeat count");
        }
        self.pos = i + 1;
        Ok(Some((min, max)))
    }

    /// The decimal number at `*i`, moving `*i` past it; None if there is none or it has a
    /// leading zero (Go reads `x{01}` as literal text). Values above 1000 read as 1001.
    fn number(&self, i: &mut usize) -> Option<u32> {
        let start = *i;
        let mut n = 0u32;
        while let Some(d) = self.chars.get(*i).and_then(|c| c.to_digit(10)) {
            n = (n * 10 + d).min(1001);
            *i += 1;
        }
        let leading_zero = self.chars.get(start) == Some(&'0') && *i > start + 1;
        (*i > start && !leading_zero).then_some(n)
    }

    fn repeat(&mut self) -> Result<Node, String> {
        let mut node = self.atom()?;
        let mut repeated = false;
        loop {
            let (min, max) = match self.peek() {
                Some('*') => {
                    self.pos += 1;
                    (0, None)
                }
                Some('+') => {
                    self.pos += 1;
                    (1, None)
                }
                Some('?') => {
                    self.pos += 1;
                    (0, Some(1))
                }
                Some('{') => match self.counted()? {
                    Some(r) => r,
                    None => break,
                },
                _ => break,
            };
            if repeated {
                return self.err("invalid nested repetition operator");
            }
            repeated = true;
            if self.peek() == Some('?') {
                self.pos += 1; // lazy: same set of matches
            }
            node = Node::Repeat(Box::new(node), min, max);
        }
        Ok(node)
    }

    fn atom(&mut self) -> Result<Node, String> {
        let Some(c) = self.peek() else {
            return self.err("unexpected end");
        };
        // A count where an atom should be (`{2}`, `a|{2}`, `({2})`) repeats nothing: an
        // error in Go, not literal text.
        if c == '{' && self.counted()?.is_some() {
            return self.err("missing argument to repetition operator");
        }
        self.pos += 1;
        Ok(match c {
            '(' => {
                // Parsing and compiling recurse once per group: bound the depth.
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return self.err("groups nested too deeply");
                }
                if self.peek() == Some('?') {
                    if self.chars.get(self.pos + 1) == Some(&':') {
                        self.pos += 2;
                    } else {
                        return self.err("unsupported group flags");
                    }
                }
                let inner = self.alt()?;
                if self.peek() != Some(')') {
                    return self.err("missing closing )");
                }
                self.pos += 1;
                self.depth -= 1;
                inner
            }
            '[' => Node::Class(self.class()?),
            '.' => Node::Class(Class {
                ranges: vec![('\n', '\n')],
                negated: true,
            }),
            '^' => Node::Start,
            '$' => Node::End,
            '\\' => self.escape(false)?,
            '*' | '+' | '?' => return self.err("missing argument to repetition operator"),
            c => Node::Class(Class {
                ranges: vec![(c, c)],
                negated: false,
            }),
        })
    }

    /// After a backslash: a class, an anchor or an escaped literal.
    fn escape(&mut self, in_class: bool) -> Result<Node, String> {
        let Some(c) = self.peek() else {
            return self.err("trailing backslash");
        };
        self.pos += 1;
        let class = |ranges: &[(char, char)], negated: bool| {
            Node::Class(Class {
                ranges: if negated {
                    complement(ranges)
                } else {
                    ranges.to_vec()
                },
                negated: false,
            })
        };
        let lit = |c: char| class(&[(c, c)], false);
        Ok(match c {
            'd' => class(DIGIT, false),
            'D' => class(DIGIT, true),
            'w' => class(WORD, false),
            'W' => class(WORD, true),
            's' => class(SPACE, false),
            'S' => class(SPACE, true),
            'n' => lit('\n'),
            't' => lit('\t'),
            'r' => lit('\r'),
            'f' => lit('\x0c'),
            'v' => lit('\x0b'),
            'A' if !in_class => Node::Start,
            'z' if !in_class => Node::End,
            c if c.is_ascii_punctuation() => lit(c),
            _ => return self.err(&format!("unsupported escape \\{c}")),
        })
    }

    fn class(&mut self) -> Result<Class, String> {
        let mut negated = false;
        if self.peek() == Some('^') {
            negated = true;
            self.pos += 1;
        }
        let mut ranges = Vec::new();
        let mut first = true;
        loop {
            let Some(c) = self.peek() else {
                return self.err("missing closing ]");
            };
            if c == ']' && !first {
                self.pos += 1;
                break;
            }
            first = false;
            // Go reads `[:name:]` inside a class as a POSIX class (and refuses unknown
            // names); they are not supported here, so refuse rather than read `[`, `:`, ...
            if c == '[' && self.chars.get(self.pos + 1) == Some(&':') {
                let rest = self.chars.get(self.pos + 2..).unwrap_or_default();
                if rest.windows(2).any(|w| w == [':', ']']) {
                    return self.err("POSIX classes like [[:alpha:]] are not supported");
                }
            }
            self.pos += 1;
            let lo = if c == '\\' {
                match self.escape(true)? {
                    Node::Class(cl) if cl.ranges.len() == 1 && cl.ranges[0].0 == cl.ranges[0].1 => {
                        cl.ranges[0].0
                    }
                    Node::Class(cl) => {
                        ranges.extend(cl.ranges);
                        continue;
                    }
                    _ => return self.err("bad escape in class"),
                }
            } else {
                c
            };
            let is_range =
                self.peek() == Some('-') && self.chars.get(self.pos + 1).is_some_and(|&n| n != ']');
            if is_range {
                self.pos += 1;
                let Some(mut hi) = self.peek() else {
                    return self.err("missing closing ]");
                };
                self.pos += 1;
                if hi == '\\' {
                    match self.escape(true)? {
                        Node::Class(cl)
                            if cl.ranges.len() == 1 && cl.ranges[0].0 == cl.ranges[0].1 =>
                        {
                            hi = cl.ranges[0].0
                        }
                        _ => return self.err("bad range end"),
                    }
                }
                if hi < lo {
                    return self.err("invalid character class range");
                }
                ranges.push((lo, hi));
            } else {
                ranges.push((lo, lo));
            }
        }
        Ok(Class { ranges, negated })
    }
}

/// A [`Pattern`] for field filters (`--collector.netstat.fields`, `--collector.vmstat.fields`)
/// that are asked about the same few hundred names on every scrape: each name is matched once
/// and the answer remembered, so a scrape costs a hash lookup per field instead of an NFA run.
pub struct FieldFilter {
    pattern: Pattern,
    seen: std::sync::Mutex<std::collections::HashMap<String, bool>>,
}

/// More distinct names than any kernel prints in one file: past it the memory is dropped and
/// rebuilt (a file with changing names cannot grow it without bound).
const FIELD_CACHE_CAP: usize = 4096;

impl FieldFilter {
    pub fn new(re: &str) -> Result<FieldFilter, String> {
        Ok(FieldFilter {
            pattern: Pattern::new(re)?,
            seen: Default::default(),
        })
    }

    pub fn is_match(&self, name: &str) -> bool {
        let Ok(mut seen) = self.seen.lock() else {
            return self.pattern.is_match(name);
        };
        if let Some(&m) = seen.get(name) {
            return m;
        }
        let m = self.pattern.is_match(name);
        if seen.len() >= FIELD_CACHE_CAP {
            seen.clear();
        }
        seen.insert(name.to_string(), m);
        m
    }
}

#[cfg(test)]
mod tests {
    use super::Pattern;

    fn m(re: &str, s: &str) -> bool {
        Pattern::new(re)
            .unwrap_or_else(|e| panic!("{re}: {e}"))
            .is_match(s)
    }

    #[test]
    fn node_exporter_default_mount_points() {
        let re = super::super::filesystem::DEFAULT_MOUNT_POINTS_EXCLUDE;
        for yes in [
            "/dev",
            "/dev/shm",
            "/proc",
            "/sys/fs/cgroup",
            "/run/credentials/x.service",
            "/var/lib/docker/overlay2/abc/merged",
        ] {
            assert!(m(re, yes), "{yes}");
        }
        for no in [
            "/",
            "/devices",
            "/home",
            "/run",
            "/run/credentials",
            "/var/lib/docker",
            "/mnt/proc",
            "/system",
        ] {
            assert!(!m(re, no), "{no}");
        }
    }

    #[test]
    fn node_exporter_default_fs_types() {
        let re = super::super::filesystem::DEFAULT_FS_TYPES_EXCLUDE;
        for yes in [
            "overlay", "cgroup", "cgroup2", "squashfs", "tracefs", "erofs",
        ] {
            assert!(m(re, yes), "{yes}");
        }
        for no in ["ext4", "tmpfs", "cgroup3", "overlayfs", "xfs", "nfs4", ""] {
            assert!(!m(re, no), "{no}");
        }
    }

    #[test]
    fn debian_netdev_exclude_and_friends() {
        assert!(m("^lo$", "lo") && !m("^lo$", "lo0") && !m("^lo$", "eth0"));
        assert!(m(
            "^(veth.*|docker[0-9]+|br-[0-9a-f]{12})$",
            "br-0123456789ab"
        ));
        assert!(!m("^(veth.*|docker[0-9]+|br-[0-9a-f]{12})$", "br-0123"));
        assert!(m("^(veth.*|docker[0-9]+)$", "docker0") && !m("^(veth.*|docker[0-9]+)$", "docker"));
        assert!(m("^$", "") && !m("^$", "x"));
    }

    #[test]
    fn syntax() {
        assert!(m("a.c", "xxabcxx") && !m("a.c", "a\nc"));
        assert!(m("^a+b?c*$", "aaac") && !m("^a+b?c*$", "bc"));
        assert!(m("^x{2,3}$", "xxx") && !m("^x{2,3}$", "xxxx") && !m("^x{2,3}$", "x"));
        assert!(m("^x{2,}$", "xxxxx") && m("^x{2}$", "xx") && !m("^x{2}$", "xxx"));
        assert!(
            m("a{,2}", "a{,2}"),
            "not a valid repeat: literal braces, as in Go"
        );
        assert!(m("^[^/]+$", "eth0") && !m("^[^/]+$", "a/b"));
        assert!(m(r"^\d+\.\d+$", "12.5") && !m(r"^\d+\.\d+$", "12x5"));
        assert!(m(r"^[\w-]+$", "wlan0-1") && !m(r"^[\w-]+$", "wlan 0"));
        assert!(m(r"^\S+\s\S+$", "a b") && m(r"\D", "1a") && !m(r"\D", "12"));
        assert!(m("^(?:ab|cd)+$", "abcdab") && !m("^(?:ab|cd)+$", "abc"));
        assert!(m("^a*?b$", "aab") && m(r"\Aab\z", "ab") && !m(r"\Aab\z", "abc"));
        assert!(m("^[]a]+$", "]a]") && m("^[a-]$", "-"));
        assert!(m("", "anything"), "empty pattern matches everywhere");
        assert!(
            m("^(a|)$", "") && m("^(a*)*$", "aaaa"),
            "empty loops terminate"
        );
        // Linear time: the classic catastrophic pattern for backtrackers.
        let s = "a".repeat(5000);
        assert!(!m("^(a+)+b$", &s));
    }

    /// regex-lite (a dev-dependency only) as the reference, with limits above this matcher's.
    fn regex_lite(re: &str) -> Option<crate::fuzzing::Matcher> {
        let r = regex_lite::RegexBuilder::new(re)
            .nest_limit(4000)
            .size_limit(1 << 28)
            .build()
            .ok()?;
        Some(Box::new(move |hay| r.is_match(hay)))
    }

    const HAYSTACKS: &[&str] = &[
        "",
        "/",
        "/dev",
        "/dev/shm",
        "/devices",
        "/proc",
        "/proc/sys/fs/binfmt_misc",
        "/run",
        "/run/credentials",
        "/run/credentials/x.service",
        "/sys",
        "/sys/fs/cgroup",
        "/mnt",
        "/media/usb",
        "/var/lib/docker",
        "/var/lib/docker/overlay2/abc/merged",
        "/var/lib/containers/storage/overlay",
        "/home",
        "/system",
        "ext4",
        "tmpfs",
        "overlay",
        "overlayfs",
        "cgroup",
        "cgroup2",
        "cgroup3",
        "squashfs",
        "erofs",
        "lo",
        "lo0",
        "eth0",
        "wlan0-1",
        "br-0123456789ab",
        "br-0123",
        "docker0",
        "veth1a2b",
        "sda",
        "sda1",
        "nvme0n1",
        "nvme0n1p1",
        "mmcblk0p1",
        "ram0",
        "zram0",
        "loop3",
        "xvda1",
        "dm-0",
        "ssh.service",
        "dev-sda.device",
        "home.mount",
        "user.slice",
        "a\nb",
        "a\n",
        "\n",
        "x{01}",
        "x{2}",
        "xx",
        "xxx",
        "a b",
        "a\tb",
        "a\x0bb",
        "[",
        "]",
        "{",
        "}",
        "é",
        "Zürich 東京",
        "aaaa",
    ];

    #[test]
    fn agrees_with_regex_lite() {
        // node_exporter's default and Debian's regexps: every haystack is compared.
        for re in [
            super::super::filesystem::DEFAULT_MOUNT_POINTS_EXCLUDE,
            super::super::filesystem::DEFAULT_FS_TYPES_EXCLUDE,
            "^/(dev|proc|run|sys|mnt|media|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)",
            "^lo$",
            r"^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$",
            r"^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$",
            r".+\.(automount|device|mount|scope|slice)",
            "^$",
            "^(veth.*|docker[0-9]+|br-[0-9a-f]{12})$",
        ] {
            let n = crate::fuzzing::pattern_agrees(re, HAYSTACKS, &regex_lite)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(n, HAYSTACKS.len(), "{re}: not every haystack compared");
        }
        // The syntax this matcher takes; a few are skipped (documented differences).
        let mut compared = 0;
        for re in [
            "a.c",
            "^a+b?c*$",
            "^x{2,3}$",
            "^x{2,}$",
            "^x{2}$",
            "x{0}",
            "^x{0,0}y",
            "a{,2}",
            "a{",
            "a{x}",
            "a{1,2,3}",
            "x{01}",
            "{",
            "}",
            "]",
            "^[^/]+$",
            r"^\d+\.\d+$",
            r"^[\w-]+$",
            r"^\S+\s\S+$",
            r"\D",
            r"\W",
            r"[\s]",
            r"[^\S]",
            "^(?:ab|cd)+$",
            "^a*?b$",
            r"\Aab\z",
            "^[]a]+$",
            "^[a-]$",
            "^[-a]$",
            "^[^]a]$",
            "",
            "^(a|)$",
            "^(a*)*$",
            "(|a)+",
            "^*$",
            "$^",
            "a|b|",
            "()",
            "(?:)",
            r"\.\*\+\?\(\)\[\]\{\}\|\^\$\\",
            r"\n",
            r"\t",
            r"[\n\t]",
            r"\v",
            "[^a]",
            ".",
            "^.$",
            "^..$",
            "é+",
            "[é-ü]",
            r"[\d-z]",
            "^x{1000}$",
            "(a+)+b",
            "a**b|",
            "[[]",
            "[[:alpha:]]",
            r"\<",
            "x{2}{3}",
            // White space in a count: literal in Go, a count in regex-lite (the fuzz target
            // found this one).
            "(?:a|b{2,3}?)*[^\\s\\d]\\.x{\n0,}$",
            "x{ 2}",
        ] {
            compared += crate::fuzzing::pattern_agrees(re, HAYSTACKS, &regex_lite)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        assert!(compared > 40 * HAYSTACKS.len(), "only {compared} compared");
    }

    #[test]
    fn go_syntax_oddities_are_followed() {
        // A count with a leading zero is literal text in Go.
        assert!(m("^x{01}$", "x{01}") && !m("^x{01}$", "x"));
        assert!(m("^x{1,02}$", "x{1,02}"));
        // So is a count with white space in it.
        assert!(m("^x{ 2}$", "x{ 2}") && !m("^x{ 2}$", "xx"));
        assert!(m("x{\n0,}$", "x{\n0,}") && !m("x{\n0,}$", "bb-.xx"));
        // A count where an atom should be repeats nothing: refused, as Go refuses it.
        for bad in [
            "{2}",
            "a|{2}",
            "({2})",
            "(?:{1,})",
            "x{99999999999}",
            "x{1,99999999999}",
        ] {
            assert!(Pattern::new(bad).is_err(), "{bad} should be refused");
        }
        // Repeating an empty-width assertion is allowed, as in Go.
        assert!(m("^{2}a", "ab") && !m("^{2}a", "ba"));
    }

    #[test]
    fn posix_classes_are_refused_not_misread() {
        // Read as `[[:alph]` followed by `]`, this used to match "a]"; Go reads a POSIX class.
        assert!(Pattern::new("[[:alpha:]]").is_err());
        assert!(Pattern::new("[[:bogus:]]").is_err());
        // Without a closing `:]`, `[:` is literal text in a class, in Go too.
        assert!(m("^[[:]+$", "[:["));
    }

    #[test]
    fn deep_group_nesting_is_refused_not_a_stack_overflow() {
        let deep = format!("{}a{}", "(".repeat(100_000), ")".repeat(100_000));
        assert!(Pattern::new(&deep).is_err());
        let ok = format!("{}a{}", "(".repeat(100), ")".repeat(100));
        assert!(m(&ok, "a"));
    }

    #[test]
    fn unsupported_and_invalid_are_refused() {
        for bad in [
            "(?i)lo", r"\bfoo", r"(a)\1", "a**", "*a", "(ab", "ab)", "[ab", "[z-a]", "x{5,2}",
            "x{2000}", "\\",
        ] {
            assert!(Pattern::new(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn field_filter_remembers_and_agrees() {
        let f = super::FieldFilter::new("^(oom_kill|pgpg|pswp|pg.*fault).*").unwrap();
        for _ in 0..2 {
            assert!(f.is_match("pgmajfault") && f.is_match("oom_kill") && f.is_match("pgpgin"));
            assert!(!f.is_match("nr_free_pages") && !f.is_match("pgsteal_kswapd"));
        }
        for i in 0..(super::FIELD_CACHE_CAP + 10) {
            assert!(!f.is_match(&format!("x{i}")));
        }
        assert!(f.is_match("pswpin"));
        assert!(super::FieldFilter::new("(?i)x").is_err());
    }
}
