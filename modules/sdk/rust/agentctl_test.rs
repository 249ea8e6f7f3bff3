// Native unit tests of agentctl.rs: `/usr/bin/rustc --edition 2021 --test agentctl_test.rs`
// (`make -C modules/sdk test`). The network calls need agent-ctl's host and are tested
// end to end by cmd/agent-ctl/sdk_test.go and scan_test.go; here only what needs no host.
#[path = "agentctl.rs"]
mod agentctl;

use agentctl::{Args, Errno, Json, ProbeState};

const SPEC: &str = "name count:int ratio:num shout:bool tag";

#[test]
fn params() {
    let a = Args::parse_from(
        "t",
        SPEC,
        &["--name", "--op", "--count=-3", "--tag", "a", "--shout", "--tag", "b", "--ratio", "1.5", "pos1", "--", "--pos2"],
    )
    .unwrap();
    assert_eq!(a.str("name"), Some("--op"));
    assert_eq!(a.int("count"), Some(-3));
    assert_eq!(a.num("ratio"), Some(1.5));
    assert!(a.bool("shout") && a.has("shout"));
    assert_eq!(a.all("tag"), vec!["a", "b"]);
    assert_eq!(a.str("tag"), Some("b"));
    assert_eq!(a.positional(), &["pos1".to_string(), "--pos2".to_string()]);

    let a = Args::parse_from("t", SPEC, &["--shout=false"]).unwrap();
    assert!(!a.bool("shout") && !a.has("shout"));
    assert!(!a.has("name"));
    assert_eq!(a.str_or("name", "def"), "def");
    assert_eq!(a.int_or("count", 7), 7);
    assert!(a.all("tag").is_empty());
}

#[test]
fn params_usage_errors() {
    for (args, want) in [
        (vec!["--nope", "x"], "unknown flag --nope"),
        (vec!["--name"], "--name needs a value"),
        (vec!["--count", "12x"], "--count: want an integer, got \"12x\""),
        (vec!["--count", "99999999999999999999"], "--count: want an integer"),
        (vec!["--ratio", "nan"], "--ratio: want a number"),
        (vec!["--shout=yes"], "--shout: want true or false"),
    ] {
        match Args::parse_from("t", SPEC, &args) {
            Ok(_) => panic!("{:?}: no error, want {:?}", args, want),
            Err(e) => assert!(e.contains(want), "{:?}: error {:?}, want {:?}", args, e, want),
        }
    }
}

#[test]
fn json() {
    let doc = Json::obj(vec![
        ("s", "q\" b\\ nl\n tab\t cr\r bs\u{8} ff\u{c} \u{1}\u{1f} del\u{7f} e\u{e9} \u{2028} \u{1F600}".into()),
        ("a", Json::Arr(vec![Json::Int(-42), Json::Num(0.5), true.into(), false.into(), Json::Null, None::<&str>.into(), Json::obj::<&str>(vec![]), Json::Arr(vec![])])),
        ("k\"", "ab\u{0}c".into()),
        ("nan", Json::Num(f64::NAN)),
        ("v", vec![1u16, 2].into()),
    ]);
    let want = "{\"s\":\"q\\\" b\\\\ nl\\n tab\\t cr\\r bs\\b ff\\f \\u0001\\u001f del\\u007f e\u{e9} \\u2028 \u{1F600}\",\
                \"a\":[-42,0.5,true,false,null,null,{},[]],\"k\\\"\":\"ab\\u0000c\",\"nan\":null,\"v\":[1,2]}";
    assert_eq!(doc.to_string(), want);
    assert_eq!(agentctl::quote("plain"), "\"plain\"");
}

#[test]
fn network_names() {
    assert_eq!(Errno::DENIED.name(), "DENIED");
    assert_eq!(Errno(99).name(), "UNKNOWN");
    assert_eq!(Errno::REFUSED.to_string(), "connection refused");
    assert_eq!(ProbeState::from_byte(3), ProbeState::Filtered);
    assert_eq!(ProbeState::from_byte(200), ProbeState::Invalid);
    assert_eq!(ProbeState::Unreachable.name(), "unreachable");
    let mut s = String::new();
    agentctl::push_target(&mut s, "10.0.0.1", 22);
    agentctl::push_target(&mut s, "::1", 443);
    assert_eq!(s, "10.0.0.1:22\n[::1]:443\n");
}

#[test]
fn network_without_host_is_denied() {
    assert_eq!(agentctl::connect("127.0.0.1", 80, 0).err(), Some(Errno::DENIED));
    assert_eq!(agentctl::probe(&[("a", 1u16), ("b", 2)], 0), Ok(vec![ProbeState::Denied, ProbeState::Denied]));
    // Targets beyond one call's text go in several calls, in order.
    let many: Vec<(String, u16)> = (0..60000).map(|i| (format!("host-{:05}.example.org", i), 65535)).collect();
    let got = agentctl::probe(&many, 0).unwrap();
    assert_eq!(got.len(), many.len());
    let too_many: Vec<(&str, u16)> = vec![("a", 1); agentctl::MAX_PROBES + 1];
    assert_eq!(agentctl::probe(&too_many, 0), Err(Errno::LIMIT));
}

#[test]
fn spec_from_manifest() {
    let m = r#"{"name": "t-x", "version": "1.0.0", "inputSchema": {"type": "object", "properties": {
  "na\u006de": {"type": "string", "enum": ["a", {"b": [1, -2.5e3, true, null]}]},
  "count": {"type": "integer"}, "ratio": {"type": "number"}, "shout": {"type": "boolean"},
  "tag": {"type": "array", "items": {"type": "integer"}}, "any": {}}}, "x": [[], {}]}"#;
    let (tool, spec) = agentctl::spec_from_manifest(m).unwrap();
    assert_eq!(tool, "t-x");
    assert_eq!(spec, "name count:int ratio:num shout:bool tag:int any");
    for bad in ["", "{", r#"{"name": "x",}"#, r#"{"version": "1"}"#, r#"{"name": "x"} x"#,
                r#"{"name": "x", "inputSchema": {"properties": {"a b": {}}}}"#, "[1, 2"] {
        assert!(agentctl::spec_from_manifest(bad).is_err(), "bad manifest {:?}", bad);
    }
}

#[test]
fn path_error() {
    // Natively nothing is "not granted": the text is the error's own.
    let e = std::io::Error::from_raw_os_error(9);
    assert!(!agentctl::path_error("t", "/data/x", &e).contains("not granted"));
}
