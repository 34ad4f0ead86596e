//! One estimate per kind of target, each a pure function of the traffic and the
//! target's resolved settings (the same values the backend deploys with). `Err` carries
//! why there is no figure: a size the price table does not have.

use super::prices::{self, aws, HOURS_PER_MONTH};
use super::{Notes, Span, Traffic};
use crate::manifest::{Arch, Target};

const SECONDS_PER_MONTH: f64 = HOURS_PER_MONTH * 3600.0;

/// Railway bills the memory an app holds, which nobody knows before it runs: the span
/// is a small Python app (0.5 GB) to a larger one with a model or big libraries (2 GB).
const RAILWAY_MEMORY_GB: (f64, f64) = (0.5, 2.0);

fn no_price(what: &str, value: &str, table: &[(&str, f64)]) -> String {
    format!(
        "aideploy's price table (as of {}) has no price for {what} `{value}`; it prices: {}",
        prices::PRICES_AS_OF,
        prices::names(table)
    )
}

pub(super) fn lambda(t: &Traffic, target: &Target, notes: &mut Notes) -> Result<Span, String> {
    let v = &target.values;
    let memory_mib = v.memory.map_or(512, |m| m.mib);
    let gb = f64::from(memory_mib) / 1024.0;
    // The backend deploys arm64 only when the target says so (src/backends/lambda).
    let arm = matches!(target.settings.arch.as_ref().map(|a| *a.get()), Some(Arch::Arm64));
    let per_gb_second = if arm { aws::LAMBDA_GB_SECOND_ARM } else { aws::LAMBDA_GB_SECOND_X86 };
    let requests = t.requests_per_month();
    let gb_seconds = t.busy_seconds() * gb;
    let warm = f64::from(v.warm_instances.unwrap_or(0));
    let provisioned = warm * gb * SECONDS_PER_MONTH * aws::LAMBDA_PROVISIONED_GB_SECOND;
    let http_api = requests * aws::HTTP_API_PER_REQUEST;
    let high = gb_seconds * per_gb_second + requests * aws::LAMBDA_PER_REQUEST + http_api + provisioned;
    let low = (gb_seconds - aws::LAMBDA_FREE_GB_SECONDS).max(0.0) * per_gb_second
        + (requests - aws::LAMBDA_FREE_REQUESTS).max(0.0) * aws::LAMBDA_PER_REQUEST
        + http_api
        + provisioned;
    notes.set("memory_mib", memory_mib);
    notes.set("arch", if arm { "arm64" } else { "x86_64" });
    notes.set("warm_instances", warm);
    notes.set("low", "Lambda's always-free tier (1M requests and 400,000 GB-seconds a month) unused by other functions of the account");
    notes.set("high", "no free tier left");
    notes.set("http_api", "API Gateway HTTP API at its first-300M-requests rate; its 12-month free tier for new accounts is not applied");
    if warm > 0.0 {
        notes.set("warm", "provisioned concurrency billed all month for each warm instance, at the x86 rate");
    }
    if v.snapstart == Some(true) {
        notes.set("snapstart", "SnapStart's cache and restore charges are not included");
    }
    Ok(Span::new(low, high))
}

pub(super) fn cloudrun(t: &Traffic, target: &Target, notes: &mut Notes) -> Result<Span, String> {
    use prices::cloudrun as p;
    let s = &target.settings;
    let gpu = s.gpu.as_ref().map(|g| g.get().clone());
    // The same defaults the backend sends (src/backends/cloudrun/service.rs): a GPU
    // needs 4 CPU and 16 GiB, else Cloud Run's own 1 CPU and 512 MiB.
    let cpu = s.cpu.as_ref().map(|c| *c.get()).unwrap_or(if gpu.is_some() { 4.0 } else { p::DEFAULT_CPU });
    let memory_mib = s.memory.as_ref().map(|m| m.get().mib).unwrap_or(if gpu.is_some() { 16 * 1024 } else { p::DEFAULT_MEMORY_MIB });
    let gib = f64::from(memory_mib) / 1024.0;
    let min = f64::from(target.values.min_instances.unwrap_or(0));
    notes.set("cpu", cpu);
    notes.set("memory_mib", memory_mib);
    notes.set("min_instances", min);
    let instance_second = cpu * p::INSTANCE_CPU_SECOND + gib * p::INSTANCE_GIB_SECOND;
    if let Some(gpu) = gpu {
        let Some(gpu_second) = prices::lookup(p::GPU_SECOND, &gpu) else {
            return Err(no_price("the Cloud Run GPU", &gpu, p::GPU_SECOND));
        };
        let per_second = gpu_second + instance_second;
        let busy = t.busy_seconds();
        notes.set("gpu", gpu);
        notes.set(
            "billing",
            "instance-based (GPU services always are); no free tier for GPUs, and the CPU and memory free tier is not applied",
        );
        notes.set("low", "instances up only while handling requests (bursts), or the minimum instances all month if more");
        notes.set("high", "at least one instance up all month: traffic spread through the day keeps one awake (Cloud Run stops an idle one after some minutes)");
        let low = (min * SECONDS_PER_MONTH).max(busy) * per_second;
        let high = min.max(1.0) * SECONDS_PER_MONTH * per_second;
        return Ok(Span::new(low, high));
    }
    // Request-based billing: each request's time rounded up to Cloud Run's 100 ms step.
    let billed_ms = (t.avg_duration_ms / p::BILLING_STEP_MS).ceil() * p::BILLING_STEP_MS;
    let requests = t.requests_per_month();
    let busy = requests * billed_ms / 1000.0;
    let warm = min * SECONDS_PER_MONTH * instance_second;
    let high = busy * (cpu * p::CPU_SECOND + gib * p::GIB_SECOND) + requests * p::PER_REQUEST + warm;
    let low = (busy * cpu - p::FREE_CPU_SECONDS).max(0.0) * p::CPU_SECOND
        + (busy * gib - p::FREE_GIB_SECONDS).max(0.0) * p::GIB_SECOND
        + (requests - p::FREE_REQUESTS).max(0.0) * p::PER_REQUEST
        + warm;
    notes.set("billing", "request-based (CPU only while handling requests), each request billed for its own time rounded up to 100 ms; requests that overlap on one instance cost less than this");
    notes.set(
        "low",
        "Cloud Run's monthly free tier (180,000 vCPU-seconds, 360,000 GiB-seconds, 2M requests) unused elsewhere in the billing account",
    );
    notes.set("high", "no free tier left");
    if min > 0.0 {
        notes.set("warm", "minimum instances priced all month at the instance-based rate");
    }
    Ok(Span::new(low, high))
}

pub(super) fn appservice(_: &Traffic, target: &Target, notes: &mut Notes) -> Result<Span, String> {
    use prices::appservice as p;
    let sku = target.values.sku.as_deref().unwrap_or("B1").to_ascii_uppercase();
    let Some(plan) = prices::lookup(p::PLAN_MONTHLY, &sku) else {
        return Err(no_price("the App Service plan SKU", &sku, p::PLAN_MONTHLY));
    };
    notes.set("sku", sku);
    notes.set("instances", 1);
    notes.set("low", "the Linux plan (one instance) and the Basic container registry, all month");
    notes.set("high", "the same: a plan bills while it exists, whether the app runs or not (hours_per_day does not apply)");
    Ok(Span::fixed(plan + p::ACR_BASIC_MONTHLY))
}

pub(super) fn ec2(t: &Traffic, target: &Target, notes: &mut Notes) -> Result<Span, String> {
    let v = &target.values;
    let instance_type = v.instance_type.clone().unwrap_or_else(|| "g4dn.xlarge".into());
    let Some(hourly) = prices::lookup(aws::EC2_HOURLY, &instance_type) else {
        return Err(no_price("the EC2 instance type", &instance_type, aws::EC2_HOURLY));
    };
    let volume_gb = f64::from(v.volume_gb.unwrap_or(100));
    let hours = t.running_hours();
    let cost = hourly * hours + volume_gb * aws::EBS_GP3_GB_MONTH + hours * aws::PUBLIC_IPV4_HOUR;
    notes.set("instance_type", instance_type);
    notes.set("hours_per_day", t.hours_per_day);
    notes.set("volume_gb", volume_gb);
    notes.set(
        "low",
        "one on-demand instance for hours_per_day, its gp3 root volume all month, and the public IPv4 address the default subnet gives it",
    );
    notes.set("high", "the same (the span is in hours_per_day; a deploy briefly runs a second instance while it checks the new one)");
    if v.load_balancer != Some(true) {
        return Ok(Span::fixed(cost));
    }
    // The load balancer bills all month, whatever hours_per_day says, with a public
    // address in each zone; its traffic (LCUs) from none to one LCU all month.
    let month = prices::HOURS_PER_MONTH;
    let lb = month * (aws::ALB_HOUR + aws::ALB_ZONES * aws::PUBLIC_IPV4_HOUR);
    notes.set("load_balancer", "an Application Load Balancer all month with a public IPv4 address in each of 2 zones; low: no traffic (LCUs), high: one LCU all month");
    Ok(Span::new(cost + lb, cost + lb + month * aws::ALB_LCU_HOUR))
}

pub(super) fn sagemaker(t: &Traffic, target: &Target, notes: &mut Notes) -> Result<Span, String> {
    let s = &target.settings;
    if let Some(sv) = &s.serverless {
        let memory_mib = sv.get().memory.mib;
        let cost = t.busy_seconds() * f64::from(memory_mib) / 1024.0 * aws::SAGEMAKER_SERVERLESS_GB_SECOND;
        notes.set("serverless_memory_mib", memory_mib);
        notes.set("low", "serverless inference billed for each request's time at the configured memory; data processing and the 2-month free trial not included");
        notes.set("high", "the same");
        return Ok(Span::fixed(cost));
    }
    let v = &target.values;
    let instance_type = v.instance_type.clone().unwrap_or_else(|| "ml.g5.xlarge".into());
    let Some(hourly) = prices::lookup(aws::SAGEMAKER_HOURLY, &instance_type) else {
        return Err(no_price("the SageMaker instance type", &instance_type, aws::SAGEMAKER_HOURLY));
    };
    let count = f64::from(v.instance_count.unwrap_or(1));
    let cost = hourly * count * t.running_hours();
    notes.set("instance_type", instance_type);
    notes.set("instance_count", count);
    notes.set("hours_per_day", t.hours_per_day);
    notes.set("low", "real-time endpoint instances for hours_per_day (an endpoint bills while it exists, whatever its traffic)");
    notes.set("high", "the same");
    Ok(Span::fixed(cost))
}

pub(super) fn railway(t: &Traffic, _: &Target, notes: &mut Notes) -> Result<Span, String> {
    use prices::railway as p;
    let running_minutes = t.running_hours() * 60.0;
    // One vCPU busy for each request's duration; memory held while the service runs.
    let cpu = t.busy_seconds() / 60.0 * p::VCPU_MINUTE;
    let usage = |gb: f64| cpu + gb * running_minutes * p::GB_MINUTE;
    let (low_gb, high_gb) = RAILWAY_MEMORY_GB;
    notes.set("hours_per_day", t.hours_per_day);
    notes.set("plan", "Hobby: its $5 a month covers the first $5 of usage (Pro's $20 minimum is not included)");
    notes.set("low", format!("the app holds {low_gb} GB of memory while it runs and uses one vCPU for each request's time"));
    notes.set("high", format!("the app holds {high_gb} GB of memory while it runs and uses one vCPU for each request's time"));
    Ok(Span::new(usage(low_gb).max(p::HOBBY_MONTHLY), usage(high_gb).max(p::HOBBY_MONTHLY)))
}

pub(super) fn render(t: &Traffic, target: &Target, notes: &mut Notes) -> Result<Span, String> {
    use prices::render as p;
    let plan = target.values.plan.clone().unwrap_or_else(|| "starter".into());
    let Some(monthly) = prices::lookup(p::PLAN_MONTHLY, &plan) else {
        return Err(no_price("the Render instance type", &plan, p::PLAN_MONTHLY));
    };
    notes.set("plan", plan);
    notes.set("hours_per_day", t.hours_per_day);
    notes.set("low", "one instance of the plan, prorated to hours_per_day (Render bills by the second while the service runs)");
    notes.set("high", "the same; the workspace's own plan (Hobby is free) is not included");
    Ok(Span::fixed(monthly * t.hours_per_day / 24.0))
}
