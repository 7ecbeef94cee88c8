//! The SageMaker `ipinsights:1` image of each region (training and inference use the same one).
//!
//! Registry accounts from the SageMaker Python SDK's `image_uri_config/ipinsights.json`.

/// Region -> ECR registry account holding the built-in IP Insights image.
pub const REGISTRIES: &[(&str, &str)] = &[
    ("af-south-1", "455444449433"),
    ("ap-east-1", "286214385809"),
    ("ap-northeast-1", "351501993468"),
    ("ap-northeast-2", "835164637446"),
    ("ap-northeast-3", "867004704886"),
    ("ap-south-1", "991648021394"),
    ("ap-south-2", "628508329040"),
    ("ap-southeast-1", "475088953585"),
    ("ap-southeast-2", "712309505854"),
    ("ap-southeast-3", "951798379941"),
    ("ap-southeast-4", "106583098589"),
    ("ca-central-1", "469771592824"),
    ("ca-west-1", "190319476487"),
    ("cn-north-1", "390948362332"),
    ("cn-northwest-1", "387376663083"),
    ("eu-central-1", "664544806723"),
    ("eu-central-2", "680994064768"),
    ("eu-north-1", "669576153137"),
    ("eu-south-1", "257386234256"),
    ("eu-south-2", "104374241257"),
    ("eu-west-1", "438346466558"),
    ("eu-west-2", "644912444149"),
    ("eu-west-3", "749696950732"),
    ("il-central-1", "898809789911"),
    ("me-central-1", "272398656194"),
    ("me-south-1", "249704162688"),
    ("sa-east-1", "855470959533"),
    ("us-east-1", "382416733822"),
    ("us-east-2", "404615174143"),
    ("us-gov-east-1", "237065988967"),
    ("us-gov-west-1", "226302683700"),
    ("us-iso-east-1", "490574956308"),
    ("us-isob-east-1", "765400339828"),
    ("us-isof-east-1", "108575199400"),
    ("us-isof-south-1", "124985052026"),
    ("us-west-1", "632365934929"),
    ("us-west-2", "174872318107"),
];

/// The DNS suffix of a region's partition (ECR hosts are `ecr.<region>.<suffix>`).
pub fn dns_suffix(region: &str) -> &'static str {
    // Order matters: us-isob- and us-isof- also start with us-iso.
    if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else if region.starts_with("us-isob-") {
        "sc2s.sgov.gov"
    } else if region.starts_with("us-isof-") {
        "csp.hci.ic.gov"
    } else if region.starts_with("us-iso-") {
        "c2s.ic.gov"
    } else {
        "amazonaws.com"
    }
}

/// `<account>.dkr.ecr.<region>.<suffix>/ipinsights:1`, or `None` for a region without the
/// image.
pub fn image_uri(region: &str) -> Option<String> {
    let (_, account) = REGISTRIES.iter().find(|(r, _)| *r == region)?;
    Some(format!(
        "{account}.dkr.ecr.{region}.{}/ipinsights:1",
        dns_suffix(region)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_regions() {
        assert_eq!(
            image_uri("us-east-1").unwrap(),
            "382416733822.dkr.ecr.us-east-1.amazonaws.com/ipinsights:1"
        );
        assert_eq!(
            image_uri("cn-north-1").unwrap(),
            "390948362332.dkr.ecr.cn-north-1.amazonaws.com.cn/ipinsights:1"
        );
        assert_eq!(
            image_uri("us-gov-west-1").unwrap(),
            "226302683700.dkr.ecr.us-gov-west-1.amazonaws.com/ipinsights:1"
        );
        assert_eq!(REGISTRIES.len(), 37);
        assert!(image_uri("xx-nowhere-1").is_none());
    }
}
