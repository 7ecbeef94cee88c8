//! Tests of the realistic estate: determinism, attacks against the records written, churn,
//! both-side records, blocked scanners, ground truth.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::net::Ipv4Addr;
use std::path::Path;

use arrow_array::{Array, Int32Array, Int64Array, StringArray, StructArray};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::*;

fn config() -> SimConfig {
    SimConfig {
        seed: 3,
        days: 6,
        accounts: 2,
        instances: 40,
        rows_per_object: 3_000,
        row_group_rows: 1_024,
        anomalies: 12,
        ..SimConfig::realistic()
    }
}

/// The columns of one flow record the tests look at.
#[derive(Debug, Clone)]
struct Rec {
    src_uid: Option<String>,
    src_ip: Option<String>,
    src_port: Option<i32>,
    dst_uid: Option<String>,
    dst_ip: Option<String>,
    dst_port: Option<i32>,
    proto: Option<i32>,
    flags: Option<i32>,
    dir: Option<i32>,
    disposition: Option<i32>,
    time: i64,
}

fn records(path: &Path) -> Vec<Rec> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap();
    let descr = builder.metadata().file_metadata().schema_descr();
    let wanted = [
        "src_endpoint.instance_uid",
        "src_endpoint.ip",
        "src_endpoint.port",
        "dst_endpoint.instance_uid",
        "dst_endpoint.ip",
        "dst_endpoint.port",
        "connection_info.protocol_num",
        "connection_info.tcp_flags",
        "connection_info.direction_id",
        "disposition_id",
        "time",
    ];
    let leaves: Vec<usize> = wanted
        .iter()
        .map(|p| {
            descr
                .columns()
                .iter()
                .position(|c| c.path().string() == *p)
                .unwrap_or_else(|| panic!("no leaf {p}"))
        })
        .collect();
    let mask = ProjectionMask::leaves(descr, leaves);
    let reader = builder.with_projection(mask).build().unwrap();
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        let group = |name: &str| {
            batch
                .column_by_name(name)
                .unwrap()
                .as_any()
                .downcast_ref::<StructArray>()
                .unwrap()
                .clone()
        };
        let (src, dst, conn) = (
            group("src_endpoint"),
            group("dst_endpoint"),
            group("connection_info"),
        );
        let s = |g: &StructArray, f: &str| {
            g.column_by_name(f)
                .unwrap()
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap()
                .clone()
        };
        let n = |g: &StructArray, f: &str| {
            g.column_by_name(f)
                .unwrap()
                .as_any()
                .downcast_ref::<Int32Array>()
                .unwrap()
                .clone()
        };
        let (su, si, sp) = (s(&src, "instance_uid"), s(&src, "ip"), n(&src, "port"));
        let (du, di, dp) = (s(&dst, "instance_uid"), s(&dst, "ip"), n(&dst, "port"));
        let (pr, fl, dr) = (
            n(&conn, "protocol_num"),
            n(&conn, "tcp_flags"),
            n(&conn, "direction_id"),
        );
        let disp = batch
            .column_by_name("disposition_id")
            .unwrap()
            .as_any()
            .downcast_ref::<Int32Array>()
            .unwrap()
            .clone();
        let time = batch.column_by_name("time").unwrap();
        let time = time.as_any().downcast_ref::<Int64Array>().unwrap();
        for i in 0..batch.num_rows() {
            let gs = |a: &StringArray| (!a.is_null(i)).then(|| a.value(i).to_string());
            let gi = |a: &Int32Array| (!a.is_null(i)).then(|| a.value(i));
            out.push(Rec {
                src_uid: gs(&su),
                src_ip: gs(&si),
                src_port: gi(&sp),
                dst_uid: gs(&du),
                dst_ip: gs(&di),
                dst_port: gi(&dp),
                proto: gi(&pr),
                flags: gi(&fl),
                dir: gi(&dr),
                disposition: gi(&disp),
                time: time.value(i),
            });
        }
    }
    out
}

fn uid_is(u: &Option<String>, id: &str) -> bool {
    u.as_deref() == Some(id)
}

fn v4(ip: &Option<String>) -> Option<Ipv4Addr> {
    ip.as_deref().and_then(|s| s.parse().ok())
}

/// Records of every VPC Flow object, by key, with the object.
fn flow_records(out: &Path, manifest: &Manifest) -> BTreeMap<String, (ManifestObject, Vec<Rec>)> {
    manifest
        .objects
        .iter()
        .filter(|o| o.source == "VPC_FLOW")
        .map(|o| (o.key.clone(), (o.clone(), records(&out.join(&o.path)))))
        .collect()
}

#[test]
fn realistic_is_deterministic() {
    let cfg = SimConfig {
        days: 3,
        rows_per_object: 800,
        anomalies: 6,
        ..config()
    };
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    simulate(&cfg, a.path()).unwrap();
    simulate(&cfg, b.path()).unwrap();
    let (fa, fb) = (
        super::tests::files_under(a.path()),
        super::tests::files_under(b.path()),
    );
    assert!(fa.contains_key(Path::new("groups.csv")));
    assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
    for (name, bytes) in &fa {
        assert!(bytes == &fb[name], "{} differs", name.display());
    }
    let c = tempfile::tempdir().unwrap();
    simulate(&SimConfig { seed: 4, ..cfg }, c.path()).unwrap();
    assert_ne!(
        std::fs::read(a.path().join("groups.csv")).unwrap(),
        std::fs::read(c.path().join("groups.csv")).unwrap()
    );
}

#[test]
fn realistic_lake_attacks_churn_and_records() {
    let cfg = config();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    let summary = simulate(&cfg, out).unwrap();
    let manifest: Manifest =
        serde_json::from_str(&std::fs::read_to_string(&summary.manifest).unwrap()).unwrap();
    let truth_text = std::fs::read_to_string(&summary.ground_truth).unwrap();
    let truth: GroundTruth = serde_json::from_str(&truth_text).unwrap();
    // The ground truth round-trips.
    assert_eq!(
        serde_json::to_string_pretty(&truth).unwrap() + "\n",
        truth_text
    );
    let raw: serde_json::Value = serde_json::from_str(&truth_text).unwrap();
    assert_eq!(raw["attacks"][0]["kind"], "c2_unseen_network");
    assert!(raw["attacks"][0]["asg"].is_string() || raw["attacks"][0]["asg"].is_null());

    // 6 days x 2 accounts x 2 sources.
    assert_eq!(manifest.objects.len(), 24);
    assert_eq!(truth.clean_days.len(), 4);
    assert_eq!(truth.anomaly_days.len(), 2);
    assert!(truth.anomalies.is_empty());
    assert_eq!(truth.attacks.len(), 12);
    let mut kinds = BTreeMap::new();
    for a in &truth.attacks {
        *kinds.entry(a.kind).or_insert(0) += 1;
    }
    assert_eq!(kinds.len(), 6, "{kinds:?}");
    assert!(kinds.values().all(|&n| n == 2), "{kinds:?}");

    // groups.csv: one row per instance ever.
    let groups_text = std::fs::read_to_string(out.join("groups.csv")).unwrap();
    let mut lines = groups_text.lines();
    assert_eq!(lines.next(), Some("instance_id,group"));
    let groups: BTreeMap<String, String> = lines
        .map(|l| {
            let (i, g) = l.split_once(',').unwrap();
            (i.to_string(), g.to_string())
        })
        .collect();
    let launched: BTreeSet<&String> = truth.launched.values().flatten().collect();
    assert_eq!(truth.launched.len(), 5);
    assert!(!launched.is_empty());
    for id in &launched {
        let g = &groups[*id];
        assert!(
            g.starts_with("asg-web-") || g.starts_with("asg-batch-"),
            "{g}"
        );
    }

    let flows = flow_records(out, &manifest);
    let attack_ips: BTreeSet<String> = truth
        .attacks
        .iter()
        .flat_map(|a| a.pairs.iter().map(|p| p.ip.clone()))
        .collect();

    // Instances by day, both sides; every instance is in groups.csv.
    let mut days_of: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut ip_of: BTreeMap<String, String> = BTreeMap::new();
    for (o, recs) in flows.values() {
        for r in recs {
            for (u, ip) in [(&r.src_uid, &r.src_ip), (&r.dst_uid, &r.dst_ip)] {
                if let Some(u) = u.as_deref().filter(|u| u.starts_with("i-")) {
                    assert!(groups.contains_key(u), "{u} not in groups.csv");
                    days_of
                        .entry(u.to_string())
                        .or_default()
                        .insert(o.day.clone());
                    ip_of.insert(ip.clone().unwrap(), u.to_string());
                }
            }
        }
    }
    let all_days: Vec<String> = truth
        .clean_days
        .iter()
        .chain(&truth.anomaly_days)
        .cloned()
        .collect();
    // Churn: an instance appears on consecutive days only, launched ones never before their
    // launch day, and some of the first day's fleet is gone by the end.
    for (id, days) in &days_of {
        let idx: Vec<usize> = days
            .iter()
            .map(|d| all_days.iter().position(|x| x == d).unwrap())
            .collect();
        assert_eq!(
            idx.last().unwrap() - idx[0] + 1,
            idx.len(),
            "{id} reappears: {days:?}"
        );
        if let Some((day, _)) = truth.launched.iter().find(|(_, ids)| ids.contains(id)) {
            assert!(
                days.iter().all(|d| d >= day),
                "{id} before its launch {day}"
            );
        }
    }
    let gone = days_of
        .values()
        .filter(|d| d.contains(&all_days[0]) && !d.contains(all_days.last().unwrap()))
        .count();
    assert!(gone >= 4, "only {gone} instances of the first day are gone");

    for a in &truth.attacks {
        assert!(truth.anomaly_days.contains(&a.day), "{a:?}");
        assert_eq!(a.object_keys.len(), 1);
        assert_eq!(a.source, "VPC_FLOW");
        assert!(a.group.starts_with("subnet-0"));
        let (object, recs) = &flows[&a.object_keys[0]];
        assert_eq!(
            (&object.day, &object.account, &object.source_version),
            (&a.day, &a.account, &a.source_version)
        );
        // Every pair was reached by a SYN in an egress record of the entity.
        for p in &a.pairs {
            assert!(
                recs.iter().any(|r| uid_is(&r.src_uid, &a.entity)
                    && r.dir == Some(2)
                    && r.dst_ip.as_deref() == Some(p.ip.as_str())
                    && r.dst_port == Some(i32::from(p.port))
                    && r.flags.is_some_and(|f| f & 2 != 0)
                    && r.src_port.is_some_and(|p| (32768..=60999).contains(&p))),
                "attack {} pair {p:?} has no egress SYN",
                a.id
            );
        }
        // The pairs occur exactly `rows` times in the named object and nowhere else.
        let ips: BTreeSet<&str> = a.pairs.iter().map(|p| p.ip.as_str()).collect();
        for (key, (_, recs)) in &flows {
            let n = recs
                .iter()
                .filter(|r| {
                    (uid_is(&r.src_uid, &a.entity)
                        && r.dst_ip.as_deref().is_some_and(|ip| ips.contains(ip)))
                        || (uid_is(&r.dst_uid, &a.entity)
                            && r.src_ip.as_deref().is_some_and(|ip| ips.contains(ip)))
                })
                .count();
            let expected = if *key == a.object_keys[0] { a.rows } else { 0 };
            if n != expected {
                for r in recs.iter().filter(|r| {
                    (uid_is(&r.src_uid, &a.entity)
                        && r.dst_ip.as_deref().is_some_and(|ip| ips.contains(ip)))
                        || (uid_is(&r.dst_uid, &a.entity)
                            && r.src_ip.as_deref().is_some_and(|ip| ips.contains(ip)))
                }) {
                    eprintln!("{r:?}");
                }
                eprintln!("{a:?}");
            }
            assert_eq!(n, expected, "attack {} ({:?}) in {key}", a.id, a.kind);
        }
        let ip0: Ipv4Addr = a.pairs[0].ip.parse().unwrap();
        let others = || {
            flows.values().flat_map(|(_, recs)| {
                recs.iter()
                    .flat_map(|r| [v4(&r.src_ip), v4(&r.dst_ip)])
                    .flatten()
                    .filter(|ip| !attack_ips.contains(&ip.to_string()))
            })
        };
        let group = &groups[&a.entity];
        match a.kind {
            AttackKind::C2UnseenNetwork | AttackKind::C2NewInstance => {
                let first = ip0.octets()[0];
                assert!(others().all(|ip| ip.octets()[0] != first), "{ip0}");
                assert!([443, 8443].contains(&a.pairs[0].port));
                if a.kind == AttackKind::C2NewInstance {
                    assert!(truth.launched[&a.day].contains(&a.entity), "{a:?}");
                    assert!(a.asg.is_some());
                }
            }
            AttackKind::C2CloudUnused => {
                let o = ip0.octets();
                assert!(others().all(|ip| ip.octets()[..2] != o[..2]), "{ip0}");
                assert!(others().any(|ip| ip.octets()[0] == o[0]), "{ip0}");
            }
            AttackKind::LateralSsh => {
                assert_eq!(a.pairs[0].port, 22);
                assert!(ip0.is_private());
                assert!(group.starts_with("asg-web-") || group.starts_with("asg-batch-"));
                let target = &groups[&ip_of[&a.pairs[0].ip]];
                assert!(
                    target.starts_with("database-") || target.starts_with("asg-app-"),
                    "{target}"
                );
            }
            AttackKind::DbEgress => {
                assert!(group.starts_with("database-"), "{group}");
                assert!(a.asg.is_none());
                assert!(!ip0.is_private());
            }
            AttackKind::InternalScan => {
                assert!((20..=40).contains(&a.pairs.len()), "{}", a.pairs.len());
                assert!(
                    a.pairs
                        .iter()
                        .all(|p| p.ip.parse::<Ipv4Addr>().unwrap().is_private())
                );
                assert!(a.pairs.iter().any(|p| !ip_of.contains_key(&p.ip)));
            }
        }
    }

    // Databases never initiate to the internet, except in db_egress attacks.
    let db_egress: BTreeSet<(&str, &str)> = truth
        .attacks
        .iter()
        .filter(|a| a.kind == AttackKind::DbEgress)
        .flat_map(|a| {
            a.pairs
                .iter()
                .map(move |p| (a.entity.as_str(), p.ip.as_str()))
        })
        .collect();
    let (mut both_sides, mut internal, mut scanners, mut udp) = (0, 0, 0, 0);
    for (_, recs) in flows.values() {
        let ingress: BTreeSet<(String, String, i32, i32, i64)> = recs
            .iter()
            .filter(|r| r.dir == Some(1) && r.dst_uid.is_some())
            .map(|r| {
                (
                    r.src_ip.clone().unwrap(),
                    r.dst_ip.clone().unwrap(),
                    r.src_port.unwrap(),
                    r.dst_port.unwrap(),
                    r.time,
                )
            })
            .collect();
        for r in recs {
            let src = r.src_uid.as_deref().filter(|u| u.starts_with("i-"));
            if let Some(u) = src
                && groups[u].starts_with("database-")
                && r.dir == Some(2)
            {
                let ip = v4(&r.dst_ip).unwrap();
                if !ip.is_private() && !ip.is_link_local() {
                    assert!(
                        db_egress.contains(&(u, r.dst_ip.as_deref().unwrap())),
                        "{r:?}"
                    );
                }
            }
            // Only the capturing side has an instance id.
            assert!(r.src_uid.is_none() || r.dst_uid.is_none(), "{r:?}");
            match r.proto {
                Some(6) => {
                    let f = r.flags.unwrap();
                    if r.dir == Some(2) && r.src_port.is_some_and(|p| p >= 32768) {
                        assert!([0, 1, 2, 3, 4].contains(&f), "{r:?}");
                    }
                }
                Some(17) => {
                    assert_eq!(r.flags.unwrap_or(0), 0);
                    udp += 1;
                }
                Some(1) => assert_eq!((r.src_port, r.dst_port), (Some(0), Some(0))),
                _ => {}
            }
            // Egress to another instance: its interface logged the ingress too.
            if src.is_some()
                && r.dir == Some(2)
                && r.dst_ip.as_ref().is_some_and(|ip| ip_of.contains_key(ip))
            {
                internal += 1;
                let key = (
                    r.src_ip.clone().unwrap(),
                    r.dst_ip.clone().unwrap(),
                    r.src_port.unwrap(),
                    r.dst_port.unwrap(),
                    r.time,
                );
                if ingress.contains(&key) {
                    both_sides += 1;
                }
            }
            // Blocked scanners: inbound SYN from the internet, REJECT.
            if r.dir == Some(1)
                && r.disposition == Some(2)
                && v4(&r.src_ip).is_some_and(|ip| !ip.is_private())
            {
                assert_eq!(r.flags, Some(2));
                assert!(r.dst_uid.is_some());
                scanners += 1;
            }
        }
    }
    assert!(internal > 1_000, "{internal}");
    assert_eq!(both_sides, internal);
    assert!(scanners > 100, "{scanners}");
    assert!(udp > 100, "{udp}");
}
