use super::matcher::Requester;
use super::*;
use crate::security::Principal;

use AclOperation::*;
use PatternType::*;
use Permission::*;
use ResourceType::*;

fn acl(
    rt: ResourceType,
    name: &str,
    pt: PatternType,
    principal: &str,
    host: &str,
    op: AclOperation,
    perm: Permission,
) -> AclBinding {
    AclBinding {
        resource_type: rt,
        resource_name: name.into(),
        pattern_type: pt,
        principal: principal.into(),
        host: host.into(),
        operation: op,
        permission: perm,
    }
}

fn topic(
    name: &str,
    pt: PatternType,
    principal: &str,
    op: AclOperation,
    p: Permission,
) -> AclBinding {
    acl(Topic, name, pt, principal, "*", op, p)
}

fn alice() -> Principal {
    Principal::user("alice")
}

fn allows(
    set: &AclSet,
    who: &Principal,
    host: &str,
    op: AclOperation,
    rt: ResourceType,
    name: &str,
) -> bool {
    set.allows(
        Requester {
            principal: who,
            host: Some(host),
        },
        op,
        rt,
        name,
        false,
    )
}

#[test]
fn literal_prefixed_and_wildcard_patterns_cover_their_names() {
    let set = AclSet::new([
        topic("orders", Literal, "User:alice", Read, Allow),
        topic("pay.", Prefixed, "User:alice", Write, Allow),
        topic("*", Literal, "User:alice", Create, Allow),
    ]);
    let a = alice();
    assert!(allows(&set, &a, "1.2.3.4", Read, Topic, "orders"));
    assert!(
        !allows(&set, &a, "1.2.3.4", Read, Topic, "orders2"),
        "literal is exact"
    );
    assert!(!allows(&set, &a, "1.2.3.4", Read, Topic, "order"));
    assert!(allows(&set, &a, "1.2.3.4", Write, Topic, "pay.in"));
    assert!(allows(&set, &a, "1.2.3.4", Write, Topic, "pay."));
    assert!(!allows(&set, &a, "1.2.3.4", Write, Topic, "pay"));
    assert!(allows(&set, &a, "1.2.3.4", Create, Topic, "anything"));
    assert!(
        !allows(&set, &a, "1.2.3.4", Read, Group, "orders"),
        "other type"
    );
}

#[test]
fn deny_beats_allow_wherever_it_comes_from() {
    let set = AclSet::new([
        topic("orders", Literal, "User:alice", Read, Allow),
        topic("ord", Prefixed, "User:*", Read, Deny),
    ]);
    assert!(!allows(&set, &alice(), "h", Read, Topic, "orders"));
    let set = AclSet::new([
        topic("orders", Literal, "User:alice", All, Allow),
        topic("*", Literal, "User:alice", Read, Deny),
    ]);
    assert!(!allows(&set, &alice(), "h", Read, Topic, "orders"));
    assert!(allows(&set, &alice(), "h", Write, Topic, "orders"));
}

#[test]
fn principals_hosts_and_the_user_wildcard() {
    let set = AclSet::new([
        acl(Topic, "t", Literal, "User:*", "10.0.0.1", Read, Allow),
        acl(Topic, "t", Literal, "User:bob", "*", Write, Allow),
        acl(Topic, "t", Literal, "Group:*", "*", Delete, Allow),
    ]);
    let (a, b) = (alice(), Principal::user("bob"));
    assert!(allows(&set, &a, "10.0.0.1", Read, Topic, "t"));
    assert!(!allows(&set, &a, "10.0.0.2", Read, Topic, "t"), "host");
    assert!(
        !allows(&set, &a, "10.0.0.1", Write, Topic, "t"),
        "principal"
    );
    assert!(allows(&set, &b, "10.0.0.9", Write, Topic, "t"));
    assert!(
        !allows(&set, &a, "10.0.0.1", Delete, Topic, "t"),
        "only User:* is a wildcard"
    );
    let unknown_host = set.allows(
        Requester {
            principal: &a,
            host: None,
        },
        Read,
        Topic,
        "t",
        false,
    );
    assert!(!unknown_host);
}

#[test]
fn allow_bindings_imply_describe_and_describe_configs_deny_bindings_do_not() {
    for op in [Read, Write, Delete, Alter, Describe] {
        let set = AclSet::new([topic("t", Literal, "User:alice", op, Allow)]);
        assert!(allows(&set, &alice(), "h", Describe, Topic, "t"), "{op:?}");
    }
    for op in [Create, AlterConfigs, DescribeConfigs] {
        let set = AclSet::new([topic("t", Literal, "User:alice", op, Allow)]);
        assert_eq!(
            allows(&set, &alice(), "h", Describe, Topic, "t"),
            op == Describe,
            "{op:?}"
        );
    }
    let set = AclSet::new([topic("t", Literal, "User:alice", AlterConfigs, Allow)]);
    assert!(allows(&set, &alice(), "h", DescribeConfigs, Topic, "t"));
    assert!(!allows(&set, &alice(), "h", Read, Topic, "t"));
    let set = AclSet::new([
        topic("t", Literal, "User:alice", All, Allow),
        topic("t", Literal, "User:alice", Read, Deny),
    ]);
    assert!(
        allows(&set, &alice(), "h", Describe, Topic, "t"),
        "DENY READ denies no DESCRIBE"
    );
    assert!(!allows(&set, &alice(), "h", Read, Topic, "t"));
}

#[test]
fn no_binding_on_the_resource_falls_back_to_the_default() {
    let set = AclSet::new([topic("other", Literal, "User:bob", Read, Allow)]);
    let who = Requester {
        principal: &Principal::anonymous(),
        host: Some("h"),
    };
    let anon = Principal::anonymous();
    let who = Requester {
        principal: &anon,
        ..who
    };
    assert!(!set.allows(who, Read, Topic, "t", false));
    assert!(set.allows(who, Read, Topic, "t", true));
    // A binding on the resource for someone else: denied even when no-ACL allows.
    assert!(!set.allows(who, Read, Topic, "other", true));
}

#[test]
fn by_resource_type_finds_an_allowed_resource_not_shadowed_by_a_deny() {
    let a = alice();
    let who = Requester {
        principal: &a,
        host: Some("h"),
    };
    let set = AclSet::new([topic("t", Literal, "User:alice", Write, Allow)]);
    assert!(set.allows_some(who, Write, Topic));
    assert!(!set.allows_some(who, Read, Topic));
    let set = AclSet::new([
        topic("t", Literal, "User:alice", Write, Allow),
        topic("t", Literal, "User:alice", Write, Deny),
    ]);
    assert!(!set.allows_some(who, Write, Topic));
    let set = AclSet::new([
        topic("tx", Literal, "User:alice", Write, Allow),
        topic("t", Prefixed, "User:alice", All, Deny),
    ]);
    assert!(!set.allows_some(who, Write, Topic));
    let set = AclSet::new([
        topic("a", Prefixed, "User:*", Write, Allow),
        topic("b", Prefixed, "User:alice", Write, Deny),
    ]);
    assert!(set.allows_some(who, Write, Topic));
    let set = AclSet::new([
        topic("*", Literal, "User:alice", Write, Allow),
        topic("x", Prefixed, "User:alice", Write, Deny),
    ]);
    assert!(set.allows_some(who, Write, Topic));
    let set = AclSet::new([
        topic("t", Literal, "User:alice", Write, Allow),
        topic("*", Literal, "User:alice", Write, Deny),
    ]);
    assert!(!set.allows_some(who, Write, Topic));
}

#[test]
fn filters_select_as_kafkas_binding_filters() {
    let lit = topic("orders", Literal, "User:alice", Read, Allow);
    let wild = topic("*", Literal, "User:bob", Write, Deny);
    let pre = topic("ord", Prefixed, "User:alice", Read, Allow);
    let grp = acl(Group, "orders", Literal, "User:alice", "*", Read, Allow);
    let set = AclSet::new([lit.clone(), wild.clone(), pre.clone(), grp.clone()]);
    let any = AclFilter {
        resource_type: None,
        resource_name: None,
        pattern: PatternFilter::Any,
        principal: None,
        host: None,
        operation: None,
        permission: None,
    };
    let got = |f: &AclFilter| set.matching(f).cloned().collect::<Vec<_>>();
    assert_eq!(got(&any).len(), 4);
    let by_name = AclFilter {
        resource_type: Some(Topic),
        resource_name: Some("orders".into()),
        ..any.clone()
    };
    assert_eq!(got(&by_name), vec![lit.clone()]);
    let matching = AclFilter {
        pattern: PatternFilter::Match,
        ..by_name.clone()
    };
    let mut m = got(&matching);
    m.sort();
    let mut want = vec![lit.clone(), wild.clone(), pre.clone()];
    want.sort();
    assert_eq!(m, want);
    let prefixed = AclFilter {
        resource_name: None,
        pattern: PatternFilter::Is(Prefixed),
        ..by_name.clone()
    };
    assert_eq!(got(&prefixed), vec![pre.clone()]);
    let denies = AclFilter {
        permission: Some(Deny),
        ..any.clone()
    };
    assert_eq!(got(&denies), vec![wild]);
    let bob = AclFilter {
        principal: Some("User:bob".into()),
        operation: Some(Read),
        ..any
    };
    assert!(got(&bob).is_empty());
}

#[test]
fn set_insert_and_remove_keep_the_index() {
    let b = topic("t", Prefixed, "User:alice", Read, Allow);
    let mut set = AclSet::default();
    assert!(set.insert(b.clone()));
    assert!(!set.insert(b.clone()), "a duplicate is one binding");
    assert_eq!(set.len(), 1);
    assert!(allows(&set, &alice(), "h", Read, Topic, "tt"));
    assert!(set.remove(&b));
    assert!(!set.remove(&b));
    assert!(set.is_empty());
    assert!(!allows(&set, &alice(), "h", Read, Topic, "tt"));
}

#[test]
fn codes_round_trip_and_unknowns_are_refused() {
    for rt in ResourceType::ALL {
        assert_eq!(ResourceType::from_code(rt.code()), Code::Is(rt));
    }
    assert_eq!(ResourceType::from_code(1), Code::Any);
    assert_eq!(ResourceType::from_code(0), Code::Unknown);
    assert_eq!(ResourceType::from_code(8), Code::Unknown);
    assert_eq!(PatternType::from_code(2), Code::Match);
    assert_eq!(AclOperation::from_code(15), Code::Is(TwoPhaseCommit));
    assert_eq!(AclOperation::from_code(16), Code::Unknown);
    assert_eq!(Permission::from_code(-1), Code::Unknown);
    assert_eq!(operations_bits([Read, Write]), (1 << 3) | (1 << 4));
}

#[test]
fn new_bindings_are_validated_as_kafka_does() {
    let ok = topic("t", Literal, "User:alice", Read, Allow);
    assert!(validate_new(&ok).is_ok());
    assert!(validate_new(&AclBinding {
        resource_name: String::new(),
        ..ok.clone()
    })
    .is_err());
    assert!(validate_new(&AclBinding {
        principal: "alice".into(),
        ..ok.clone()
    })
    .is_err());
    let cluster = acl(
        Cluster,
        "kafka-cluster",
        Literal,
        "User:a",
        "*",
        Alter,
        Allow,
    );
    assert!(validate_new(&cluster).is_ok());
    assert!(validate_new(&AclBinding {
        resource_name: "other".into(),
        ..cluster
    })
    .is_err());
}

#[test]
fn hosts_print_as_java_prints_them() {
    use std::net::IpAddr;
    let p = |s: &str| host_address(s.parse::<IpAddr>().unwrap());
    assert_eq!(p("10.0.0.1"), "10.0.0.1");
    assert_eq!(p("::1"), "0:0:0:0:0:0:0:1");
    assert_eq!(p("::ffff:10.0.0.1"), "10.0.0.1");
    assert_eq!(p("fe80::1:ab"), "fe80:0:0:0:0:0:1:ab");
}
