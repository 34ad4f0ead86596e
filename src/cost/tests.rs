//! One hand-computed case per kind of target. The arithmetic is written out in each
//! comment (10,000 requests a day = 304,166.67 a 730-hour month; at 200 ms that is
//! 60,833.33 busy seconds), so a changed price or formula shows which figure moved.

use super::*;

const APP: &str = "version = 1\n[app]\nname = \"demo\"\nasgi = \"app.main:app\"\n";

/// The estimate of target `name` in a manifest of `APP` plus `rest`.
fn est(rest: &str, name: &str) -> Estimate {
    let text = format!("{APP}{rest}");
    let m = crate::manifest::parse(&text, "aideploy.toml").unwrap_or_else(|e| panic!("{e:?}"));
    let t = m.target(Some(name), &[]).unwrap();
    estimate(&m, &t)
}

fn span(e: &Estimate) -> (f64, f64) {
    let s = e.monthly_usd.unwrap_or_else(|| panic!("no figure: {:?}", e.assumptions));
    (s.low, s.high)
}

#[test]
fn local_costs_nothing() {
    let e = est("", "local");
    assert_eq!(span(&e), (0.0, 0.0));
    assert_eq!(e.prices_as_of, prices::PRICES_AS_OF);
    assert!(!e.assumptions.contains_key("not_included"));
}

#[test]
fn lambda_defaults_fit_in_the_free_tier_but_the_http_api_does_not() {
    // 512 MiB x86: 60,833.33 s x 0.5 GB = 30,416.67 GB-s x $0.0000166667 = $0.5069;
    // requests 304,166.67 x $0.20/M = $0.0608; HTTP API x $1.00/M = $0.3042.
    // high = 0.8719; low: GB-s and requests within the free tier, the API is not: 0.3042.
    let e = est("[targets.lambda]\n", "lambda");
    assert_eq!(span(&e), (0.30, 0.87));
    assert_eq!(e.assumptions["arch"], "x86_64");
    assert_eq!(e.assumptions["memory_mib"], 512);
}

#[test]
fn lambda_arm_past_the_free_tier() {
    // 1M requests a day at 100 ms, 1024 MiB arm64: 30,416,666.67 requests, 3,041,666.67 GB-s.
    // high = 3,041,666.67 x 0.0000133334 + 30,416,666.67 x (0.20 + 1.00)/M = 40.5558 + 6.0833 + 30.4167 = 77.06
    // low  = 2,641,666.67 x 0.0000133334 + 29,416,666.67 x 0.20/M + 30.4167 = 35.2223 + 5.8833 + 30.4167 = 71.52
    let e = est("[cost]\nrequests_per_day = 1000000\navg_duration_ms = 100\n[targets.lambda]\nmemory = 1024\narch = \"arm64\"\n", "lambda");
    assert_eq!(span(&e), (71.52, 77.06));
}

#[test]
fn lambda_warm_instances_bill_all_month() {
    // Provisioned concurrency: 2 x 0.5 GB x 2,628,000 s x $0.0000041667 = $10.9501, on both
    // ends: 0.3042 + 10.9501 and 0.8719 + 10.9501.
    let e = est("[targets.lambda]\nwarm_instances = 2\n", "lambda");
    assert_eq!(span(&e), (11.25, 11.82));
}

#[test]
fn cloudrun_scales_to_zero_or_keeps_a_minimum() {
    // 1 vCPU, 512 MiB, 200 ms: 60,833.33 s x ($0.000024 + 0.5 x $0.0000025) = $1.5360,
    // requests 304,166.67 x $0.40/M = $0.1217: high 1.66; all within the free tier: low 0.
    assert_eq!(span(&est("[targets.cloudrun]\n", "cloudrun")), (0.0, 1.66));
    // One minimum instance: 2,628,000 s x ($0.000018 + 0.5 x $0.000002) = $49.93 more.
    assert_eq!(span(&est("[targets.cloudrun]\nmin_instances = 1\n", "cloudrun")), (49.93, 51.59));
}

#[test]
fn cloudrun_rounds_each_request_up_to_100_ms() {
    // 250 ms bills as 300 ms: 91,250 s x $0.00002525 + $0.1217 = $2.4257.
    let e = est("[cost]\navg_duration_ms = 250\n[targets.cloudrun]\n", "cloudrun");
    assert_eq!(span(&e).1, 2.43);
}

#[test]
fn cloudrun_gpu_is_instance_billed() {
    // L4 + 4 vCPU + 16 GiB = $0.0001867 + $0.000072 + $0.000032 = $0.0002907 a second.
    // low: busy time only, 60,833.33 s = $17.68; high: one instance all month, 2,628,000 s = $763.96.
    let e = est("[targets.cloudrun]\ngpu = \"nvidia-l4\"\n", "cloudrun");
    assert_eq!(span(&e), (17.68, 763.96));
    let e = est("[targets.cloudrun]\ngpu = \"nvidia-h100\"\n", "cloudrun");
    assert!(e.monthly_usd.is_none());
    assert!(e.assumptions["no_price"].as_str().unwrap().contains("nvidia-h100"));
}

#[test]
fn appservice_is_the_plan_and_the_registry() {
    // B1 $13.14 + Basic registry $5.00, whatever the hours.
    assert_eq!(span(&est("[targets.appservice]\n", "appservice")), (18.14, 18.14));
    assert_eq!(span(&est("[cost]\nhours_per_day = 8\n[targets.appservice]\nsku = \"s1\"\n", "appservice")), (74.35, 74.35));
}

#[test]
fn ec2_is_hours_volume_and_address() {
    // g4dn.xlarge: 730 h x $0.526 = $383.98, 100 GB x $0.08 = $8, 730 h x $0.005 = $3.65.
    assert_eq!(span(&est("[targets.ec2]\n", "ec2")), (395.63, 395.63));
    // 8 hours a day: 243.33 h x $0.526 = $127.99 + $8 + $1.22.
    assert_eq!(span(&est("[cost]\nhours_per_day = 8\n[targets.ec2]\n", "ec2")), (137.21, 137.21));
    // Behind a load balancer: + 730 h x ($0.0225 + 2 x $0.005) = $23.73, and up to one
    // LCU all month (730 h x $0.008 = $5.84).
    let lb = est("[targets.ec2]\nload_balancer = true\n", "ec2");
    assert_eq!(span(&lb), (419.36, 425.2));
    assert!(lb.assumptions["load_balancer"].as_str().unwrap().contains("LCU"));
    let e = est("[targets.ec2]\ninstance_type = \"p5.48xlarge\"\n", "ec2");
    assert!(e.monthly_usd.is_none());
    let why = e.assumptions["no_price"].as_str().unwrap();
    assert!(why.contains("p5.48xlarge") && why.contains("g4dn.xlarge"), "{why}");
}

#[test]
fn sagemaker_instances_or_serverless() {
    // ml.g5.xlarge, one instance, 730 h x $1.408 = $1,027.84.
    assert_eq!(span(&est("[targets.sagemaker]\n", "sagemaker")), (1027.84, 1027.84));
    // Two ml.m5.large: 2 x 730 x $0.115 = $167.90.
    let e = est("[targets.sagemaker]\ninstance_type = \"ml.m5.large\"\ninstance_count = 2\n", "sagemaker");
    assert_eq!(span(&e), (167.9, 167.9));
    // Serverless 2 GB: 60,833.33 s x 2 x $0.00002 = $2.43.
    let e = est("[targets.sagemaker]\nserverless = { memory = 2048, max_concurrency = 5 }\n", "sagemaker");
    assert_eq!(span(&e), (2.43, 2.43));
}

#[test]
fn railway_is_usage_above_the_hobby_minimum() {
    // CPU: 60,833.33 s / 60 x $0.000463 = $0.4694; memory over 43,800 minutes:
    // 0.5 GB x $0.000231 = $5.0589, 2 GB = $20.2356.
    assert_eq!(span(&est("[targets.railway]\n", "railway")), (5.53, 20.71));
    // Two hours a day: 0.5 GB comes to $0.42 + CPU $0.47, under the plan's $5.
    assert_eq!(span(&est("[cost]\nhours_per_day = 2\n[targets.railway]\n", "railway")).0, 5.0);
}

#[test]
fn render_is_the_plan_prorated() {
    assert_eq!(span(&est("[targets.render]\n", "render")), (7.0, 7.0));
    assert_eq!(span(&est("[cost]\nhours_per_day = 12\n[targets.render]\nplan = \"standard\"\n", "render")), (12.5, 12.5));
    assert!(est("[targets.render]\nplan = \"enormous\"\n", "render").monthly_usd.is_none());
}

#[test]
fn budget_compares_the_low_end() {
    let text =
        format!("{APP}[cost]\nbudget_usd = 100\n[targets.ec2]\n[targets.lambda]\n[targets.sagemaker]\ninstance_type = \"ml.x9.huge\"\n");
    let m = crate::manifest::parse(&text, "aideploy.toml").unwrap();
    let of = |name: &str| budget(&m.cost, &estimate(&m, &m.target(Some(name), &[]).unwrap()));
    assert_eq!(of("ec2"), Budget::Over { budget: 100.0, low: 395.63 });
    assert_eq!(of("lambda"), Budget::Within);
    assert_eq!(of("sagemaker"), Budget::Unknown { budget: 100.0 });
    assert!(of("ec2").warning("ec2").unwrap().contains("$395.63"));
    assert!(Budget::Within.warning("x").is_none());
    // No budget: nothing to compare.
    let m = crate::manifest::parse(&format!("{APP}[targets.ec2]\n"), "aideploy.toml").unwrap();
    assert_eq!(budget(&m.cost, &estimate(&m, &m.target(Some("ec2"), &[]).unwrap())), Budget::Within);
}

#[test]
fn words_and_dollars() {
    assert_eq!(dollars(0.0), "$0");
    assert_eq!(dollars(0.3), "$0.30");
    assert_eq!(dollars(1027.84), "$1,027.84");
    assert_eq!(dollars(1234567.0), "$1,234,567.00");
    assert_eq!(est("[targets.lambda]\n", "lambda").words(), "$0.30–$0.87 a month");
    assert_eq!(est("[targets.render]\n", "render").words(), "$7.00 a month");
}

#[test]
fn every_price_is_a_price() {
    let tables = [
        prices::aws::EC2_HOURLY,
        prices::aws::SAGEMAKER_HOURLY,
        prices::appservice::PLAN_MONTHLY,
        prices::render::PLAN_MONTHLY,
        prices::cloudrun::GPU_SECOND,
    ];
    for table in tables {
        for (i, (name, price)) in table.iter().enumerate() {
            assert!(price.is_finite() && *price >= 0.0, "{name}");
            // Only free tiers are free.
            assert!(*price > 0.0 || ["F1", "free"].contains(name), "{name} costs nothing");
            assert!(!table[..i].iter().any(|(n, _)| n.eq_ignore_ascii_case(name)), "{name} twice");
        }
    }
    // The defaults of the settings table have a price: a default target always gets a figure.
    assert!(prices::lookup(prices::aws::EC2_HOURLY, "g4dn.xlarge").is_some());
    assert!(prices::lookup(prices::aws::SAGEMAKER_HOURLY, "ml.g5.xlarge").is_some());
    assert!(prices::lookup(prices::appservice::PLAN_MONTHLY, "B1").is_some());
    assert!(prices::lookup(prices::render::PLAN_MONTHLY, "starter").is_some());
}

#[test]
fn cost_values_are_checked_where_they_stand() {
    for (line, want) in [
        ("requests_per_day = -1", "requests_per_day -1 is out of range"),
        ("avg_duration_ms = 0", "avg_duration_ms 0 is out of range"),
        ("hours_per_day = 25", "hours_per_day 25 is out of range"),
        ("budget_usd = 0", "budget_usd 0 is not a budget"),
        ("budget = 5", "did you mean `budget_usd`?"),
    ] {
        let text = format!("{APP}[cost]\n{line}\n");
        let err = crate::manifest::parse(&text, "aideploy.toml").unwrap_err();
        let all = format!("{err:?}");
        assert!(all.contains(want), "{line}: {all}");
    }
    let m = crate::manifest::parse(&format!("{APP}[cost]\nhours_per_day = 7.5\nbudget_usd = 12.5\n"), "aideploy.toml").unwrap();
    assert_eq!(m.cost.hours_per_day(), 7.5);
    assert_eq!(m.cost.budget_usd(), Some(12.5));
    assert_eq!(m.cost.requests_per_day(), crate::manifest::cost::DEFAULT_REQUESTS_PER_DAY);
}
