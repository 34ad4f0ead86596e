//! The Hugging Face inference container (an AWS Deep Learning Container) for a region:
//! AWS publishes the same images from a registry account per region. The `image`
//! setting overrides this choice entirely.

/// The framework and toolkit versions of the container aideploy deploys by default.
pub const HF_VERSION: &str = "2.1.0-transformers4.37.0";

/// The registry account serving the Deep Learning Containers in `region`.
fn dlc_account(region: &str) -> Option<&'static str> {
    Some(match region {
        "us-east-1" | "us-east-2" | "us-west-1" | "us-west-2" | "ca-central-1" | "sa-east-1" | "eu-west-1" | "eu-west-2" | "eu-west-3"
        | "eu-central-1" | "eu-north-1" | "ap-south-1" | "ap-northeast-1" | "ap-northeast-2" | "ap-northeast-3" | "ap-southeast-1"
        | "ap-southeast-2" => "763104351884",
        "af-south-1" => "626614931356",
        "ap-east-1" => "871362719292",
        "ap-south-2" => "772153158452",
        "ap-southeast-3" => "907027046896",
        "ap-southeast-4" => "457447274322",
        "ca-west-1" => "204538143572",
        "eu-central-2" => "380420809688",
        "eu-south-1" => "692866216735",
        "eu-south-2" => "503227376785",
        "il-central-1" => "780543022126",
        "me-central-1" => "914824155844",
        "me-south-1" => "217643126080",
        "cn-north-1" | "cn-northwest-1" => "727897471807",
        "us-gov-west-1" => "442386744353",
        "us-gov-east-1" => "446045086412",
        _ => return None,
    })
}

/// Whether the instances have a GPU (`ml.g5.xlarge`, `ml.p4d.24xlarge`); serverless
/// endpoints never do.
pub fn is_gpu(instance_type: Option<&str>) -> bool {
    instance_type.and_then(|t| t.strip_prefix("ml.")).is_some_and(|t| t.starts_with('g') || t.starts_with('p'))
}

/// The Hugging Face PyTorch inference image for this region and device, or `None` for
/// a region not in the table (then `image` must be given).
pub fn huggingface_image(region: &str, gpu: bool) -> Option<String> {
    let account = dlc_account(region)?;
    let domain = if region.starts_with("cn-") { "amazonaws.com.cn" } else { "amazonaws.com" };
    let device = if gpu { "gpu-py310-cu118-ubuntu20.04" } else { "cpu-py310-ubuntu22.04" };
    Some(format!("{account}.dkr.ecr.{region}.{domain}/huggingface-pytorch-inference:{HF_VERSION}-{device}"))
}

/// `(account, region, repository)` of an ECR image URI, for the role's pull permission.
pub fn ecr_repository(image: &str) -> Option<(String, String, String)> {
    let (host, rest) = image.split_once('/')?;
    let mut parts = host.split('.');
    let account = parts.next()?;
    if parts.next()? != "dkr" || parts.next()? != "ecr" {
        return None;
    }
    let region = parts.next()?;
    let repo = rest.split(['@', ':']).next()?;
    (account.len() == 12 && account.chars().all(|c| c.is_ascii_digit()))
        .then(|| (account.to_string(), region.to_string(), repo.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_per_region_and_device() {
        assert_eq!(
            huggingface_image("us-east-1", true).unwrap(),
            "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-inference:2.1.0-transformers4.37.0-gpu-py310-cu118-ubuntu20.04"
        );
        assert!(huggingface_image("cn-north-1", false).unwrap().starts_with("727897471807.dkr.ecr.cn-north-1.amazonaws.com.cn/"));
        assert!(huggingface_image("xx-nowhere-1", false).is_none());
        assert!(is_gpu(Some("ml.g5.xlarge")) && is_gpu(Some("ml.p3.2xlarge")) && !is_gpu(Some("ml.m5.xlarge")) && !is_gpu(None));
        assert_eq!(
            ecr_repository("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/model:1").unwrap(),
            ("123456789012".into(), "eu-west-1".into(), "team/model".into())
        );
        assert!(ecr_repository("ghcr.io/acme/x:1").is_none());
    }
}
