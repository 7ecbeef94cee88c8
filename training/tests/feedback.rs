//! `ipinsights feedback` against moto's Security Hub: findings shaped like the Lambda's (and a
//! few of another generator) are imported through the SDK, some get an analyst's verdict, and
//! the labels file must hold exactly those verdicts, past the first page of 100.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::process::Command;

use aws_sdk_securityhub::types::{
    AwsSecurityFinding, Note, Resource, Severity, SeverityLabel, Workflow, WorkflowStatus,
};
use findings::labels::{Label, Verdict, parse_labels, parse_rfc3339_ms};
use findings::product_fields;

/// moto's account for the test credentials.
const ACCOUNT: &str = "123456789012";
const OURS: usize = 130;

fn ipinsights() -> Command {
    e2e_tests::command(env!("CARGO_BIN_EXE_ipinsights"))
}

fn entity(k: usize) -> String {
    format!("i-0{k:016x}")
}

fn address(k: usize) -> Ipv4Addr {
    Ipv4Addr::new(203, 0, 113, k as u8)
}

/// Finding `k` updated `k` hours after 2026-01-01 (so --since can cut the list).
fn updated_at(k: usize) -> String {
    format!("2026-01-{:02}T{:02}:00:00Z", 1 + k / 24, k % 24)
}

fn ours(k: usize) -> aws_sdk_securityhub::types::builders::AwsSecurityFindingBuilder {
    let arn = findings::product_arn("aws", "us-east-1", ACCOUNT);
    let mut fields: HashMap<String, String> = [
        (product_fields::ENTITY, entity(k)),
        (product_fields::ADDRESS, address(k).to_string()),
        (product_fields::SCORE, "-4.5".to_string()),
        (product_fields::THRESHOLD, "-1.2".to_string()),
        (product_fields::PAIRING, "initiator".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    // Every seventh has no group.
    if !k.is_multiple_of(7) {
        fields.insert(product_fields::GROUP.into(), format!("subnet-{}", k % 3));
    }
    AwsSecurityFinding::builder()
        .schema_version("2018-10-08")
        .id(format!("seclake-ipinsights/{k}"))
        .product_arn(arn)
        .generator_id(findings::GENERATOR_ID)
        .aws_account_id(ACCOUNT)
        .types(findings::FINDING_TYPE)
        .created_at("2026-01-01T00:00:00Z")
        .updated_at(updated_at(k))
        .severity(Severity::builder().label(SeverityLabel::Medium).build())
        .title("Unusual destination")
        .description("an instance reached an address unlike its usual ones")
        .set_product_fields(Some(fields))
        .resources(
            Resource::builder()
                .r#type("AwsEc2Instance")
                .id(format!(
                    "arn:aws:ec2:us-east-1:{ACCOUNT}:instance/{}",
                    entity(k)
                ))
                .build(),
        )
}

fn note(k: usize, text: &str) -> Note {
    Note::builder()
        .text(text)
        .updated_by(format!("analyst-{}", k % 4))
        .updated_at(format!("2026-02-01T{:02}:{:02}:00Z", k / 60, k % 60))
        .build()
}

fn workflow(status: WorkflowStatus) -> Workflow {
    Workflow::builder().status(status).build()
}

/// The analysts' decision on finding `k`, and the label it must give.
fn decided(k: usize) -> Option<(AwsSecurityFinding, Option<Verdict>)> {
    let f = ours(k);
    Some(match k % 10 {
        0 => (
            f.workflow(workflow(WorkflowStatus::Suppressed))
                .note(note(k, "nightly backup, see \"CHG-7\""))
                .build(),
            Some(Verdict::FalsePositive),
        ),
        1 => (
            f.workflow(workflow(WorkflowStatus::Resolved))
                .note(note(k, "False positive: vendor update\nserver"))
                .build(),
            Some(Verdict::FalsePositive),
        ),
        2 => (
            f.workflow(workflow(WorkflowStatus::Resolved))
                .note(note(k, "contained; instance rebuilt"))
                .build(),
            Some(Verdict::TruePositive),
        ),
        // The explicit verdict wins over a suppression.
        3 => (
            f.workflow(workflow(WorkflowStatus::Suppressed))
                .user_defined_fields("verdict", "malicious")
                .note(note(k, "suppressed while handled"))
                .build(),
            Some(Verdict::TruePositive),
        ),
        4 => (
            f.workflow(workflow(WorkflowStatus::Notified))
                .note(note(k, "looking"))
                .build(),
            None,
        ),
        // A verdict without a note: who is unknown, when is the finding's UpdatedAt.
        5 => (
            f.user_defined_fields("verdict", "benign").build(),
            Some(Verdict::FalsePositive),
        ),
        _ => return None,
    })
}

fn expected_label(k: usize, finding: &AwsSecurityFinding, verdict: Verdict) -> Label {
    let note = finding.note();
    Label {
        entity: entity(k),
        address: address(k),
        group: (!k.is_multiple_of(7)).then(|| format!("subnet-{}", k % 3)),
        verdict,
        when_ms: parse_rfc3339_ms(note.and_then(|n| n.updated_at()).unwrap_or(&updated_at(k)))
            .unwrap(),
        who: note
            .and_then(|n| n.updated_by())
            .unwrap_or("unknown")
            .to_string(),
        finding_id: format!("seclake-ipinsights/{k}"),
        note: note.and_then(|n| n.text()).unwrap_or_default().to_string(),
    }
}

async fn import(client: &aws_sdk_securityhub::Client, findings: Vec<AwsSecurityFinding>) {
    for chunk in findings.chunks(100) {
        let out = client
            .batch_import_findings()
            .set_findings(Some(chunk.to_vec()))
            .send()
            .await
            .expect("BatchImportFindings");
        assert_eq!(out.failed_count(), Some(0), "{out:?}");
    }
}

fn by_id(mut labels: Vec<Label>) -> Vec<Label> {
    labels.sort_by(|a, b| a.finding_id.cmp(&b.finding_id));
    labels
}

#[test]
fn feedback_writes_the_analysts_verdicts() {
    let Some(endpoint) = e2e_tests::moto_endpoint() else {
        return;
    };
    let client = aws_sdk_securityhub::Client::new(&e2e_tests::sdk_config(&endpoint));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut expected = Vec::new();
    rt.block_on(async {
        client.enable_security_hub().send().await.unwrap();
        let mut all: Vec<AwsSecurityFinding> = (0..OURS).map(|k| ours(k).build()).collect();
        // Another generator's findings, with verdicts that must not be read.
        for k in 0..5 {
            all.push(
                ours(200 + k)
                    .generator_id("guardduty/other")
                    .workflow(workflow(WorkflowStatus::Suppressed))
                    .build(),
            );
        }
        import(&client, all).await;
        // moto has no BatchUpdateFindings: re-importing an Id replaces its fields, as an
        // analyst's update would.
        let mut updates = Vec::new();
        for k in 0..OURS {
            if let Some((finding, verdict)) = decided(k) {
                if let Some(v) = verdict {
                    expected.push(expected_label(k, &finding, v));
                }
                updates.push(finding);
            }
        }
        import(&client, updates).await;
    });
    let (fp, tp) = (
        expected
            .iter()
            .filter(|l| l.verdict == Verdict::FalsePositive)
            .count(),
        expected
            .iter()
            .filter(|l| l.verdict == Verdict::TruePositive)
            .count(),
    );
    assert_eq!((fp, tp), (39, 26));
    // Labels from the second page are among them.
    assert!(
        expected
            .iter()
            .any(|l| l.finding_id == "seclake-ipinsights/120")
    );

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("labels.csv");
    // The account from STS.
    let (stdout, _) = e2e_tests::run_ok(ipinsights().arg("feedback").arg("--out").arg(&out));
    // moto's Security Hub is shared by every test of the run: other tests' findings (other
    // accounts, so other product ARNs) are read and skipped too.
    let counts = |after: &str| -> usize {
        stdout
            .split(after)
            .nth(1)
            .and_then(|rest| {
                rest.trim_start()
                    .split(|c: char| !c.is_ascii_digit())
                    .next()
            })
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no count after {after:?}: {stdout}"))
    };
    let (read, skipped) = (counts("findings read"), counts("("));
    assert_eq!(read - skipped, OURS, "{stdout}");
    assert!(skipped >= 5, "{stdout}");
    assert!(
        stdout.contains(&format!(
            "false positives {fp}, true positives {tp}, without verdict {}",
            OURS - fp - tp
        )),
        "{stdout}"
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.starts_with("entity,address,group,verdict,when,who,finding_id,note\n"));
    // The note with a comma, quotes and a line break is quoted.
    assert!(
        text.contains(",\"nightly backup, see \"\"CHG-7\"\"\"\n"),
        "{text}"
    );
    let labels = parse_labels(&text).unwrap();
    // Oldest verdict first.
    assert!(labels.windows(2).all(|w| w[0].when_ms <= w[1].when_ms));
    let (got, want) = (by_id(labels), by_id(expected.clone()));
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w);
    }

    // --since keeps findings updated from then on (checked here: moto ignores the filter).
    let out2 = dir.path().join("since.csv");
    let (stdout, _) = e2e_tests::run_ok(
        ipinsights()
            .args(["feedback", "--account", ACCOUNT, "--since", "2026-01-05"])
            .arg("--out")
            .arg(&out2),
    );
    let since: Vec<Label> = parse_labels(&std::fs::read_to_string(&out2).unwrap()).unwrap();
    let want: Vec<Label> = want
        .into_iter()
        .filter(|l| {
            let k: usize = l.finding_id.rsplit('/').next().unwrap().parse().unwrap();
            k >= 96
        })
        .collect();
    assert!(!want.is_empty());
    assert_eq!(by_id(since), want);
    assert!(stdout.contains("96 updated before --since"), "{stdout}");

    // Another account's product ARN matches none of them.
    let (stdout, _) = e2e_tests::run_ok(
        ipinsights()
            .args(["feedback", "--account", "111122223333"])
            .arg("--out")
            .arg(&out2),
    );
    assert!(stdout.contains("0 labels"), "{stdout}");
    assert_eq!(
        parse_labels(&std::fs::read_to_string(&out2).unwrap()).unwrap(),
        vec![]
    );

    let bad = ipinsights()
        .args(["feedback", "--since", "yesterday", "--out"])
        .arg(&out2)
        .output()
        .unwrap();
    assert!(!bad.status.success());
}
