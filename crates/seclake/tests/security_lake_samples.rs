//! AWS's own Security Lake objects (parquet-mr, Avro model, GZIP, legacy lists) must read
//! without error and give the pairs the fixtures README lists.

use std::path::PathBuf;

use seclake::{
    DropReason, ExtractOptions, PairSet, Pairing, ReadOptions, Source, extract_bytes, extract_local,
};

fn samples_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/security-lake-samples");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but the Security Lake samples are missing at {}",
        dir.display()
    );
    eprintln!(
        "skipping: {} not found (it is ../shared beside the project)",
        dir.display()
    );
    None
}

fn read(rel: &str, source: Source, pairing: Pairing) -> PairSet {
    let dir = samples_dir().expect("checked by caller");
    let path = dir.join(rel);
    let options = ExtractOptions {
        pairing,
        max_dropped_examples: 8,
        ..Default::default()
    };
    let from_file = extract_local(&path, &source, &options, &ReadOptions::default())
        .unwrap_or_else(|e| panic!("{rel}: {e}"));
    // The in-memory path (whole-object S3 GETs) must agree with the file path.
    let bytes = bytes::Bytes::from(std::fs::read(&path).unwrap());
    let from_bytes = extract_bytes(bytes, &source, &options, &ReadOptions::default()).unwrap();
    assert_eq!(from_file.pairs, from_bytes.pairs, "{rel}");
    from_file
}

fn pairs(set: &PairSet) -> Vec<(String, String, u64)> {
    set.pairs
        .iter()
        .map(|p| (p.entity.to_string(), p.ip.to_string(), p.count))
        .collect()
}

#[test]
fn vpc_flow_samples() {
    if samples_dir().is_none() {
        return;
    }
    let s0 = read(
        "1.0.0-rc.2/VPC_FLOW/example0.gz.parquet",
        Source::VpcFlow,
        Pairing::Src,
    );
    assert!(s0.pairs.is_empty());
    assert_eq!(s0.stats.rows, 1);
    assert_eq!(s0.stats.dropped.get(DropReason::EntityNull), 1);
    assert_eq!(s0.stats.dropped_examples[0].ip.as_deref(), Some("1.2.3.4"));
    // Inbound flow: the instance is in dst_endpoint, which `endpoint` pairing sees.
    let e0 = read(
        "1.0.0-rc.2/VPC_FLOW/example0.gz.parquet",
        Source::VpcFlow,
        Pairing::Endpoint,
    );
    assert_eq!(e0.pairs.len(), 1, "{:?}", e0.pairs);
    assert!(e0.pairs[0].entity.starts_with("i-"));
    assert_eq!(e0.pairs[0].ip.to_string(), "172.31.2.52");

    for example in ["example1", "example2"] {
        let s = read(
            &format!("1.0.0-rc.2/VPC_FLOW/{example}.gz.parquet"),
            Source::VpcFlow,
            Pairing::Src,
        );
        assert_eq!(
            pairs(&s),
            vec![("i-000000000000000000".into(), "1.2.3.4".into(), 1)],
            "{example}"
        );
    }
    let s3 = read(
        "1.0.0-rc.2/VPC_FLOW/example3.gz.parquet",
        Source::VpcFlow,
        Pairing::Src,
    );
    assert!(s3.pairs.is_empty());
    assert_eq!(s3.stats.dropped.get(DropReason::EntitySentinel), 1);
    assert_eq!(s3.stats.dropped_examples[0].entity.as_deref(), Some("-"));
    assert_eq!(s3.stats.dropped_examples[0].ip.as_deref(), Some("-"));
    // Who initiated: example0 is an inbound SYN from 1.2.3.4 (refused), so it is no pair of the
    // instance; example1 and 2 are the instance's own connections to 172.31.2.52, decided by
    // their flags or ports; example3 (NODATA, all `-`) is decided by nothing.
    let i0 = read(
        "1.0.0-rc.2/VPC_FLOW/example0.gz.parquet",
        Source::VpcFlow,
        Pairing::Initiator,
    );
    assert!(i0.pairs.is_empty(), "{:?}", i0.pairs);
    assert_eq!(i0.stats.initiator.syn, 1);
    assert_eq!(i0.stats.dropped.get(DropReason::EntityNull), 1);
    for example in ["example1", "example2"] {
        let s = read(
            &format!("1.0.0-rc.2/VPC_FLOW/{example}.gz.parquet"),
            Source::VpcFlow,
            Pairing::Initiator,
        );
        assert_eq!(
            pairs(&s),
            vec![("i-000000000000000000".into(), "172.31.2.52".into(), 1)],
            "{example}"
        );
        assert_eq!(s.stats.initiator.undecided, 0, "{example}");
    }
    let i3 = read(
        "1.0.0-rc.2/VPC_FLOW/example3.gz.parquet",
        Source::VpcFlow,
        Pairing::Initiator,
    );
    assert!(i3.pairs.is_empty());
    assert_eq!(
        i3.stats.dropped.get(DropReason::InitiatorUndecided)
            + i3.stats.dropped.get(DropReason::EntitySentinel),
        1
    );
    // Peer pairing reads the same files.
    for n in 0..4 {
        read(
            &format!("1.0.0-rc.2/VPC_FLOW/example{n}.gz.parquet"),
            Source::VpcFlow,
            Pairing::Peer,
        );
    }
}

#[test]
fn route53_samples() {
    if samples_dir().is_none() {
        return;
    }
    for n in 0..3 {
        let s = read(
            &format!("1.0.0-rc.2/ROUTE53/example{n}.json.gz.parquet"),
            Source::Route53,
            Pairing::Src,
        );
        assert!(s.pairs.is_empty(), "example{n}");
        assert_eq!(s.stats.dropped.get(DropReason::EntityNull), 1);
        assert_eq!(
            s.stats.dropped_examples[0].ip.as_deref(),
            Some("10.200.21.100")
        );
    }
    let s = read(
        "1.0.0-rc.2/ROUTE53/example3.json.gz.parquet",
        Source::Route53,
        Pairing::Src,
    );
    assert_eq!(
        pairs(&s),
        vec![("i-0d15cd0d3example".into(), "4.5.64.102".into(), 1)]
    );
    // Endpoint pairing on Route 53 is src pairing (resolver endpoints carry no address); peer
    // pairing reads the answers list (legacy two-level list) without error.
    let e = read(
        "1.0.0-rc.2/ROUTE53/example3.json.gz.parquet",
        Source::Route53,
        Pairing::Endpoint,
    );
    assert_eq!(pairs(&e), pairs(&s));
    for n in 0..4 {
        let p = read(
            &format!("1.0.0-rc.2/ROUTE53/example{n}.json.gz.parquet"),
            Source::Route53,
            Pairing::Peer,
        );
        assert_eq!(p.stats.rows, 1);
    }
}

#[test]
fn other_sources_read_without_error() {
    if samples_dir().is_none() {
        return;
    }
    for n in 0..4 {
        let s = read(
            &format!("1.0.0-rc.2/SH_FINDINGS/example{n}.json.gz.parquet"),
            Source::ShFindings,
            Pairing::Src,
        );
        assert!(s.pairs.is_empty());
        assert_eq!(s.stats.rows, 1);
    }
    // OCSF 1.1.0: src_endpoint has an address but no instance; the address is the
    // non-canonical dotted quad the README mentions.
    let eks = read("1.1.0/EKS/test.parquet", Source::EksAudit, Pairing::Src);
    assert!(eks.pairs.is_empty());
    assert_eq!(eks.stats.dropped.get(DropReason::EntityNull), 1);
    assert_eq!(
        eks.stats.dropped_examples[0].ip.as_deref(),
        Some("12.000.22.33")
    );
}

#[test]
fn scored_sources_reject_objects_of_other_sources() {
    if samples_dir().is_none() {
        return;
    }
    let dir = samples_dir().unwrap();
    let err = extract_local(
        &dir.join("1.0.0-rc.2/SH_FINDINGS/example0.json.gz.parquet"),
        &Source::VpcFlow,
        &ExtractOptions::default(),
        &ReadOptions::default(),
    )
    .unwrap_err();
    assert_eq!(err.reason(), "missing_column", "{err}");
}
