//! An analyst's verdict read back from one of our Security Hub findings.
//!
//! Analysts say what a finding was in one of two ways: a `verdict` user-defined field (explicit,
//! so it wins), or the workflow status (SUPPRESSED means "expected, stop telling me"; RESOLVED
//! is ambiguous, so the note decides between a false positive and a handled attack).

use aws_sdk_securityhub::types::{AwsSecurityFinding, WorkflowStatus};

use crate::labels::{Label, Verdict, parse_rfc3339_ms};
use crate::{GENERATOR_ID, product_fields};

/// The user-defined field an analyst sets to give a verdict explicitly.
pub const VERDICT_FIELD: &str = "verdict";

/// Whether `finding` was written by our Lambda: its `GeneratorId`, and its `ProductArn` when
/// one is given (Security Hub's filters are not trusted alone: stand-ins ignore them).
pub fn is_ours(finding: &AwsSecurityFinding, product_arn: Option<&str>) -> bool {
    finding.generator_id() == Some(GENERATOR_ID)
        && product_arn.is_none_or(|arn| finding.product_arn() == Some(arn))
}

/// A `verdict` user-defined value: `false_positive`, `benign`, `fp`, `true_positive`,
/// `malicious`, `tp` or `confirmed` (any case; `-` or a space for `_`).
pub fn parse_verdict_value(value: &str) -> Option<Verdict> {
    let v = value.trim().to_ascii_lowercase().replace(['-', ' '], "_");
    match v.as_str() {
        "false_positive" | "benign" | "fp" => Some(Verdict::FalsePositive),
        "true_positive" | "malicious" | "tp" | "confirmed" => Some(Verdict::TruePositive),
        _ => None,
    }
}

/// Whether a note says the finding was a false positive: "false positive", "benign",
/// "expected", "fp" as words, not negated by a preceding "not", "no" or "never".
pub fn note_says_false_positive(note: &str) -> bool {
    let lower = note.to_ascii_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .collect();
    let negated = |i: usize| i > 0 && matches!(words[i - 1], "not" | "no" | "never" | "isn't");
    words.iter().enumerate().any(|(i, w)| match *w {
        "benign" | "expected" | "fp" => !negated(i),
        "false" => words.get(i + 1) == Some(&"positive") && !negated(i),
        _ => false,
    })
}

/// The verdict of a finding, or `None` when it has none yet (workflow NEW or NOTIFIED).
pub fn verdict_of(finding: &AwsSecurityFinding) -> Option<Verdict> {
    let explicit = finding.user_defined_fields().and_then(|fields| {
        fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(VERDICT_FIELD))
            .and_then(|(_, v)| parse_verdict_value(v))
    });
    if explicit.is_some() {
        return explicit;
    }
    match finding.workflow().and_then(|w| w.status()) {
        Some(WorkflowStatus::Suppressed) => Some(Verdict::FalsePositive),
        Some(WorkflowStatus::Resolved) => {
            let note = finding.note().and_then(|n| n.text()).unwrap_or("");
            Some(if note_says_false_positive(note) {
                Verdict::FalsePositive
            } else {
                Verdict::TruePositive
            })
        }
        _ => None,
    }
}

/// The label of a finding: its verdict, and the pair it was about. `None` when there is no
/// verdict yet, or when the finding lacks the entity or address (not one of ours, or damaged).
pub fn label_of(finding: &AwsSecurityFinding) -> Option<Label> {
    let verdict = verdict_of(finding)?;
    let fields = finding.product_fields();
    let field = |key: &str| {
        fields
            .and_then(|f| f.get(key))
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    };
    let entity = match field(product_fields::ENTITY) {
        Some(e) => e.to_string(),
        None => finding
            .resources()
            .iter()
            .find(|r| r.r#type() == Some("AwsEc2Instance"))
            .and_then(|r| r.id())
            .and_then(|arn| arn.rsplit('/').next())
            .filter(|id| !id.is_empty())?
            .to_string(),
    };
    let address = field(product_fields::ADDRESS)?.parse().ok()?;
    let note = finding.note();
    let when_ms = note
        .and_then(|n| n.updated_at())
        .and_then(parse_rfc3339_ms)
        .or_else(|| finding.updated_at().and_then(parse_rfc3339_ms))?;
    Some(Label {
        entity,
        address,
        group: field(product_fields::GROUP).map(String::from),
        verdict,
        when_ms,
        who: note
            .and_then(|n| n.updated_by())
            .filter(|w| !w.is_empty())
            .unwrap_or("unknown")
            .to_string(),
        finding_id: finding.id().unwrap_or_default().to_string(),
        note: note.and_then(|n| n.text()).unwrap_or_default().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_securityhub::types::{Note, Resource, Workflow};
    use std::collections::HashMap;

    const ARN: &str = "arn:aws:securityhub:us-east-1:111122223333:product/111122223333/default";

    fn finding() -> aws_sdk_securityhub::types::builders::AwsSecurityFindingBuilder {
        let fields: HashMap<String, String> = [
            (product_fields::ENTITY, "i-0abc"),
            (product_fields::ADDRESS, "203.0.113.7"),
            (product_fields::GROUP, "subnet-0db1"),
            (product_fields::SCORE, "-3.2"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        AwsSecurityFinding::builder()
            .id("f-1")
            .product_arn(ARN)
            .generator_id(GENERATOR_ID)
            .updated_at("2026-01-06T08:00:00Z")
            .set_product_fields(Some(fields))
            .resources(
                Resource::builder()
                    .r#type("AwsEc2Instance")
                    .id("arn:aws:ec2:us-east-1:111122223333:instance/i-0abc")
                    .build(),
            )
    }

    fn workflow(status: WorkflowStatus) -> Workflow {
        Workflow::builder().status(status).build()
    }

    fn note(text: &str) -> Note {
        Note::builder()
            .text(text)
            .updated_by("ana")
            .updated_at("2026-01-07T09:30:00Z")
            .build()
    }

    #[test]
    fn ours_by_generator_and_product() {
        let f = finding().build();
        assert!(is_ours(&f, None));
        assert!(is_ours(&f, Some(ARN)));
        assert!(!is_ours(
            &f,
            Some("arn:aws:securityhub:us-east-1::product/aws/guardduty")
        ));
        let other = finding().generator_id("guardduty").build();
        assert!(!is_ours(&other, None));
        assert!(!is_ours(&AwsSecurityFinding::builder().build(), None));
    }

    #[test]
    fn no_verdict_while_new_or_notified() {
        assert_eq!(label_of(&finding().build()), None);
        for s in [WorkflowStatus::New, WorkflowStatus::Notified] {
            let f = finding().workflow(workflow(s)).note(note("benign")).build();
            assert_eq!(verdict_of(&f), None);
            assert_eq!(label_of(&f), None);
        }
    }

    #[test]
    fn suppressed_is_a_false_positive_with_the_notes_facts() {
        let f = finding()
            .workflow(workflow(WorkflowStatus::Suppressed))
            .note(note("backup job, see CHG-12"))
            .build();
        let l = label_of(&f).unwrap();
        assert_eq!(l.verdict, Verdict::FalsePositive);
        assert_eq!(l.entity, "i-0abc");
        assert_eq!(l.address.to_string(), "203.0.113.7");
        assert_eq!(l.group.as_deref(), Some("subnet-0db1"));
        assert_eq!(l.who, "ana");
        assert_eq!(l.when_ms, parse_rfc3339_ms("2026-01-07T09:30:00Z").unwrap());
        assert_eq!(l.finding_id, "f-1");
        assert_eq!(l.note, "backup job, see CHG-12");
    }

    #[test]
    fn resolved_reads_the_note() {
        let resolved = |text: &str| {
            verdict_of(
                &finding()
                    .workflow(workflow(WorkflowStatus::Resolved))
                    .note(note(text))
                    .build(),
            )
        };
        assert_eq!(
            resolved("False positive: patch server"),
            Some(Verdict::FalsePositive)
        );
        assert_eq!(resolved("benign"), Some(Verdict::FalsePositive));
        assert_eq!(
            resolved("expected traffic (vendor)"),
            Some(Verdict::FalsePositive)
        );
        assert_eq!(
            resolved("contained, instance rebuilt"),
            Some(Verdict::TruePositive)
        );
        assert_eq!(
            resolved("unexpected beaconing"),
            Some(Verdict::TruePositive)
        );
        assert_eq!(
            resolved("not benign: exfiltration"),
            Some(Verdict::TruePositive)
        );
        assert_eq!(
            resolved("this was not expected"),
            Some(Verdict::TruePositive)
        );
        // Resolved without a note: handled, so confirmed.
        let f = finding()
            .workflow(workflow(WorkflowStatus::Resolved))
            .build();
        assert_eq!(verdict_of(&f), Some(Verdict::TruePositive));
        // No note: who is unknown and when is the finding's UpdatedAt.
        let l = label_of(&f).unwrap();
        assert_eq!((l.who.as_str(), l.note.as_str()), ("unknown", ""));
        assert_eq!(l.when_ms, parse_rfc3339_ms("2026-01-06T08:00:00Z").unwrap());
    }

    #[test]
    fn the_user_defined_verdict_wins() {
        let with = |value: &str, status: Option<WorkflowStatus>| {
            let mut b = finding()
                .user_defined_fields("team", "netops")
                .user_defined_fields("Verdict", value);
            if let Some(s) = status {
                b = b.workflow(workflow(s));
            }
            verdict_of(&b.build())
        };
        for v in ["false_positive", "Benign", "FP", "false-positive"] {
            assert_eq!(
                with(v, Some(WorkflowStatus::Resolved)),
                Some(Verdict::FalsePositive),
                "{v}"
            );
        }
        for v in ["true_positive", "malicious", "tp", "Confirmed"] {
            assert_eq!(
                with(v, Some(WorkflowStatus::Suppressed)),
                Some(Verdict::TruePositive),
                "{v}"
            );
            assert_eq!(with(v, None), Some(Verdict::TruePositive), "{v}");
        }
        // An unknown value gives way to the workflow.
        assert_eq!(
            with("dunno", Some(WorkflowStatus::Suppressed)),
            Some(Verdict::FalsePositive)
        );
        assert_eq!(with("dunno", None), None);
    }

    #[test]
    fn entity_falls_back_to_the_instance_resource() {
        let mut fields: HashMap<String, String> = HashMap::new();
        fields.insert(product_fields::ADDRESS.into(), "198.51.100.1".into());
        let f = finding()
            .set_product_fields(Some(fields.clone()))
            .workflow(workflow(WorkflowStatus::Suppressed))
            .build();
        let l = label_of(&f).unwrap();
        assert_eq!((l.entity.as_str(), l.group), ("i-0abc", None));
        // Without an address there is no pair to label.
        fields.remove(product_fields::ADDRESS);
        let f = finding()
            .set_product_fields(Some(fields))
            .workflow(workflow(WorkflowStatus::Suppressed))
            .build();
        assert_eq!(label_of(&f), None);
        // Nor without an entity at all.
        let f = AwsSecurityFinding::builder()
            .generator_id(GENERATOR_ID)
            .updated_at("2026-01-06T08:00:00Z")
            .product_fields(product_fields::ADDRESS, "198.51.100.1")
            .workflow(workflow(WorkflowStatus::Suppressed))
            .build();
        assert_eq!(label_of(&f), None);
    }
}
