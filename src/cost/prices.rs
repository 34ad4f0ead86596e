//! The price table aideploy ships: list prices in US dollars, on demand, without
//! discounts, taxes or credits, for one region per cloud (AWS us-east-1, Google Cloud
//! Tier 1 regions such as us-central1, Azure East US). Rust constants rather than a data
//! file: a typo is a compile error, and a unit test checks every entry is positive.
//!
//! Each figure names where it was read. Where the provider's own page could not be
//! read, the figure is one that public cost tables agree on, and its source says so;
//! entries nobody could confirm are left out, so an estimate for them says "no price"
//! instead of guessing. Update the table and `PRICES_AS_OF` together.

/// The day these prices were read.
pub const PRICES_AS_OF: &str = "2026-12-05";

/// Hours in a billing month, the convention of the AWS and Azure calculators.
pub const HOURS_PER_MONTH: f64 = 730.0;

/// AWS, us-east-1.
pub mod aws {
    // Lambda: "AWS Lambda pricing" (requests, duration per GB-second for x86_64 and
    // arm64, and the always-free 1M requests and 400,000 GB-seconds a month), as quoted
    // by KodeKloud's "Lambda Pricing" notes and cloudchipr's "AWS Lambda Pricing" guide.
    pub const LAMBDA_PER_REQUEST: f64 = 0.20 / 1e6;
    pub const LAMBDA_GB_SECOND_X86: f64 = 0.000_016_666_7;
    pub const LAMBDA_GB_SECOND_ARM: f64 = 0.000_013_333_4;
    pub const LAMBDA_FREE_REQUESTS: f64 = 1e6;
    pub const LAMBDA_FREE_GB_SECONDS: f64 = 400_000.0;
    // Provisioned concurrency (x86 figure; applied to arm64 as well, which overstates
    // it slightly): public cost tables citing "AWS Lambda pricing".
    pub const LAMBDA_PROVISIONED_GB_SECOND: f64 = 0.000_004_166_7;

    // API Gateway HTTP API, first 300 million requests a month; its free tier is for new
    // accounts' first 12 months only, so it is not applied: "Amazon API Gateway pricing"
    // as quoted by apigatewaycost.com and awsforengineers.com.
    pub const HTTP_API_PER_REQUEST: f64 = 1.00 / 1e6;

    // EBS gp3 storage per GB-month and a public IPv4 address per hour: public cost
    // tables citing "Amazon EBS pricing" and "Amazon VPC pricing".
    pub const EBS_GP3_GB_MONTH: f64 = 0.08;
    pub const PUBLIC_IPV4_HOUR: f64 = 0.005;

    // Application Load Balancer: per hour, and per LCU-hour (the traffic dimension):
    // public cost tables citing "Elastic Load Balancing pricing". An internet-facing one
    // holds a public IPv4 address in each of its (at least two) zones.
    pub const ALB_HOUR: f64 = 0.0225;
    pub const ALB_LCU_HOUR: f64 = 0.008;
    pub const ALB_ZONES: f64 = 2.0;

    /// EC2 on-demand Linux, per hour. The ec2 target's default is g4dn.xlarge.
    pub const EC2_HOURLY: &[(&str, f64)] = &[
        // g4dn.xlarge (T4): public GPU price tables citing "Amazon EC2 On-Demand Pricing".
        ("g4dn.xlarge", 0.526),
        // g5.xlarge (A10G): factualminds' "Amazon EC2 On-Demand Pricing" (June 2026).
        ("g5.xlarge", 1.006),
        // g5.2xlarge, g6.xlarge, g6.2xlarge (L4), g6e.xlarge (L40S): public GPU price
        // tables citing "Amazon EC2 On-Demand Pricing", us-east-1.
        ("g5.2xlarge", 1.212),
        ("g6.xlarge", 0.8048),
        ("g6.2xlarge", 0.9776),
        ("g6e.xlarge", 1.861),
        // m7g.large (Graviton, no GPU): factualminds' "Amazon EC2 On-Demand Pricing".
        ("m7g.large", 0.0816),
    ];

    /// SageMaker real-time inference, per instance-hour.
    pub const SAGEMAKER_HOURLY: &[(&str, f64)] = &[
        // ml.t3.medium, ml.c7g.large: Wring's "SageMaker Inference: Real-Time vs Serverless".
        ("ml.t3.medium", 0.05),
        ("ml.c7g.large", 0.10),
        // ml.m5.large, ml.m5.xlarge, ml.c5.xlarge, ml.g4dn.xlarge, ml.g5.xlarge,
        // ml.inf2.xlarge, ml.p4d.24xlarge: public cost tables citing "Amazon SageMaker
        // pricing" (real-time inference, us-east-1). ml.g5.xlarge is the sagemaker
        // target's default.
        ("ml.m5.large", 0.115),
        ("ml.m5.xlarge", 0.23),
        ("ml.c5.xlarge", 0.204),
        ("ml.g4dn.xlarge", 0.736),
        ("ml.g5.xlarge", 1.408),
        ("ml.inf2.xlarge", 0.758),
        ("ml.p4d.24xlarge", 37.688),
    ];

    // SageMaker Serverless Inference, per GB-second of the configured memory (its data
    // processing charge and 2-month free trial are not included): public cost tables
    // citing "Amazon SageMaker pricing".
    pub const SAGEMAKER_SERVERLESS_GB_SECOND: f64 = 0.000_020_0;
}

/// Google Cloud Run, Tier 1 regions.
pub mod cloudrun {
    // Request-based billing (CPU only during requests), its monthly free tier per
    // billing account, and the request fee: "Cloud Run pricing" (cloud.google.com).
    pub const CPU_SECOND: f64 = 0.000_024;
    pub const GIB_SECOND: f64 = 0.000_002_5;
    pub const PER_REQUEST: f64 = 0.40 / 1e6;
    pub const FREE_CPU_SECONDS: f64 = 180_000.0;
    pub const FREE_GIB_SECONDS: f64 = 360_000.0;
    pub const FREE_REQUESTS: f64 = 2e6;
    // Instance-based billing (GPU services, and minimum instances kept warm): "Cloud
    // Run pricing" for the CPU figure; memory and the L4 GPU (without zonal redundancy)
    // from public cost notes citing the same page.
    pub const INSTANCE_CPU_SECOND: f64 = 0.000_018;
    pub const INSTANCE_GIB_SECOND: f64 = 0.000_002;
    pub const GPU_SECOND: &[(&str, f64)] = &[("nvidia-l4", 0.000_186_7)];
    /// Cloud Run's own defaults when the target gives no `cpu` or `memory`.
    pub const DEFAULT_CPU: f64 = 1.0;
    pub const DEFAULT_MEMORY_MIB: u32 = 512;
    /// Request-based billing rounds each instance's busy time up to 100 ms.
    pub const BILLING_STEP_MS: f64 = 100.0;
}

/// Azure App Service, Linux plans, one instance, per month.
pub mod appservice {
    // F1 to S3: public Azure cost tables citing "App Service pricing" (Linux); B1's
    // figure is also in Microsoft's own azure-skills "Pricing Guide". The PremiumV3
    // figures come from the same tables, one of which was for Sweden Central: East US
    // may be lower.
    pub const PLAN_MONTHLY: &[(&str, f64)] = &[
        ("F1", 0.0),
        ("B1", 13.14),
        ("B2", 26.28),
        ("B3", 52.56),
        ("S1", 69.35),
        ("S2", 138.70),
        ("S3", 277.40),
        ("P1V3", 138.70),
        ("P2V3", 277.40),
        ("P3V3", 554.80),
    ];
    // The Basic container registry the image is pushed to: about $5 a month, Microsoft's
    // azure-skills "Per-Service Pricing Patterns" (Basic Registry Unit, per day x 30).
    pub const ACR_BASIC_MONTHLY: f64 = 5.0;
}

/// Railway, usage-based: "Pricing" and "Understanding Your Bill" (docs.railway.com).
pub mod railway {
    pub const VCPU_MINUTE: f64 = 0.000_463;
    pub const GB_MINUTE: f64 = 0.000_231;
    /// The Hobby plan's subscription, which covers the first $5 of usage.
    pub const HOBBY_MONTHLY: f64 = 5.0;
}

/// Render instance types for web and private services, per month, prorated by the
/// second: starter and standard from Render's community answer "How the Starter plan
/// billing works" and craftedbyhan's "Render prorated billing"; pro, pro_plus and
/// pro_max from public cost tables of Render plans. free: Render's "Free Instance Types"
/// (web services only).
pub mod render {
    pub const PLAN_MONTHLY: &[(&str, f64)] =
        &[("free", 0.0), ("starter", 7.0), ("standard", 25.0), ("pro", 85.0), ("pro_plus", 175.0), ("pro_max", 225.0)];
}

/// The price of `key` in a `(name, price)` table, names compared without case.
pub fn lookup(table: &[(&str, f64)], key: &str) -> Option<f64> {
    table.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, p)| *p)
}

/// The names a table prices, for an error or an assumption that says what is known.
pub fn names(table: &[(&str, f64)]) -> String {
    table.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")
}
