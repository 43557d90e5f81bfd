//! Fuzzes the collectors' regexp matcher (`src/collector/pattern.rs`) against regex-lite: the
//! input is a pattern and haystacks separated by NUL bytes (`promlet::fuzzing::pattern`).
#![no_main]

/// regex-lite with limits above pattern.rs's own (group depth 1000, 20,000 instructions), so
/// that it never refuses a pattern only for its size.
fn regex_lite(re: &str) -> Option<promlet::fuzzing::Matcher> {
    let r = regex_lite::RegexBuilder::new(re)
        .nest_limit(4000)
        .size_limit(1 << 28)
        .build()
        .ok()?;
    Some(Box::new(move |hay| r.is_match(hay)))
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| promlet::fuzzing::pattern(data, &regex_lite));
