//! The AWS budget alert of `[cost] budget_usd` (lambda, ec2, sagemaker): an AWS Budgets
//! monthly COST budget of that many US dollars, tagged with the target's owner tags,
//! whose notifications (actual spend above 80%, forecast above 100%) go to
//! `[cost] alert_email`. Without an email the budget has no notification: AWS shows it
//! in the Billing console but tells nobody.
//!
//! A budget covers the whole account's cost: AWS counts a resource's cost under a tag only
//! once the tag is activated for cost allocation, which aideploy cannot assume.

use anyhow::Result;
use aws_sdk_budgets::types::{
    BudgetType, ComparisonOperator, Notification, NotificationType, ResourceTag, Spend, Subscriber, SubscriptionType, ThresholdType,
    TimeUnit,
};

use super::aws::{owner_tags, sdk_error};
use super::budget::{Found, Want};
use crate::engine::Cx;

const HINT_READ: &str = "the identity needs budgets:ViewBudget and budgets:ListTagsForResource (docs/permissions.md)";
const HINT_WRITE: &str = "the identity needs budgets:ModifyBudget and budgets:TagResource (docs/permissions.md)";

/// The Budgets API of the target's account.
pub struct Budgets {
    budgets: aws_sdk_budgets::Client,
    sts: aws_sdk_sts::Client,
}

/// The account and the ARN partition the credentials belong to.
struct Account {
    id: String,
    partition: String,
}

impl Budgets {
    /// For the target's credentials (Budgets itself is global: one endpoint for every region).
    pub async fn for_target(cx: &Cx) -> Result<Budgets> {
        let region = cx.target.settings.region.as_ref().map(|r| r.get().as_str().to_string());
        let config = super::aws::load(region.as_deref(), super::aws::chosen_profile()).await?;
        Ok(Budgets { budgets: crate::aws_client!(aws_sdk_budgets, &config), sts: crate::aws_client!(aws_sdk_sts, &config) })
    }

    async fn account(&self) -> Result<Account> {
        let who = self.sts.get_caller_identity().send().await.map_err(|e| {
            sdk_error("STS GetCallerIdentity", &e, "check the AWS credentials: `aws sts get-caller-identity` should answer")
        })?;
        let partition = who.arn().and_then(|a| a.split(':').nth(1)).unwrap_or("aws").to_string();
        Ok(Account { id: who.account().unwrap_or_default().to_string(), partition })
    }

    /// The budget named `name`, when there is one.
    pub async fn read(&self, cx: &Cx, name: &str) -> Result<Option<Found>> {
        let account = self.account().await?;
        let budget = match self.budgets.describe_budget().account_id(&account.id).budget_name(name).send().await {
            Ok(out) => match out.budget {
                Some(b) => b,
                None => return Ok(None),
            },
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found_exception()) => return Ok(None),
            Err(e) => return Err(sdk_error("Budgets DescribeBudget", &e, HINT_READ)),
        };
        let arn = format!("arn:{}:budgets::{}:budget/{name}", account.partition, account.id);
        let tags = self
            .budgets
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
            .map_err(|e| sdk_error("Budgets ListTagsForResource", &e, HINT_READ))?;
        let tags: std::collections::HashMap<String, String> =
            tags.resource_tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
        let ours = super::aws::is_ours(cx, &tags);
        let amount_usd = budget.budget_limit().and_then(|s| s.amount().parse::<f64>().ok()).unwrap_or(0.0);
        let email = if ours { self.email(&account.id, name).await? } else { None };
        Ok(Some(Found { name: name.to_string(), ours, amount_usd, email, extra: serde_json::Value::Null }))
    }

    /// The address the budget's notifications go to, when it has any.
    async fn email(&self, account: &str, name: &str) -> Result<Option<String>> {
        let notes = self
            .budgets
            .describe_notifications_for_budget()
            .account_id(account)
            .budget_name(name)
            .send()
            .await
            .map_err(|e| sdk_error("Budgets DescribeNotificationsForBudget", &e, HINT_READ))?;
        let Some(first) = notes.notifications().first() else { return Ok(None) };
        let subs = self
            .budgets
            .describe_subscribers_for_notification()
            .account_id(account)
            .budget_name(name)
            .notification(first.clone())
            .send()
            .await
            .map_err(|e| sdk_error("Budgets DescribeSubscribersForNotification", &e, HINT_READ))?;
        Ok(subs.subscribers().iter().find(|s| s.subscription_type() == &SubscriptionType::Email).map(|s| s.address().to_string()))
    }

    /// Creates the budget `want` describes, or (`found`, ours) brings it to `want`.
    pub async fn put(&self, cx: &Cx, want: &Want, found: Option<&Found>) -> Result<()> {
        let account = self.account().await?;
        let budget = aws_sdk_budgets::types::Budget::builder()
            .budget_name(&want.name)
            .budget_type(BudgetType::Cost)
            .time_unit(TimeUnit::Monthly)
            .budget_limit(Spend::builder().amount(format!("{:.2}", want.amount_usd)).unit("USD").build()?)
            .build()?;
        let Some(found) = found else {
            let mut tags = Vec::new();
            for (k, v) in owner_tags(cx) {
                tags.push(ResourceTag::builder().key(k).value(v).build()?);
            }
            let mut create = self.budgets.create_budget().account_id(&account.id).budget(budget).set_resource_tags(Some(tags));
            if let Some(email) = &want.email {
                for n in notifications()? {
                    create = create.notifications_with_subscribers(
                        aws_sdk_budgets::types::NotificationWithSubscribers::builder()
                            .notification(n)
                            .subscribers(subscriber(email)?)
                            .build()?,
                    );
                }
            }
            create.send().await.map_err(|e| sdk_error("Budgets CreateBudget", &e, HINT_WRITE))?;
            return Ok(());
        };
        self.budgets
            .update_budget()
            .account_id(&account.id)
            .new_budget(budget)
            .send()
            .await
            .map_err(|e| sdk_error("Budgets UpdateBudget", &e, HINT_WRITE))?;
        if found.email != want.email {
            // The notifications go and come back with the new address (or not at all).
            if found.email.is_some() {
                for n in notifications()? {
                    self.budgets
                        .delete_notification()
                        .account_id(&account.id)
                        .budget_name(&want.name)
                        .notification(n)
                        .send()
                        .await
                        .map_err(|e| sdk_error("Budgets DeleteNotification", &e, HINT_WRITE))?;
                }
            }
            if let Some(email) = &want.email {
                for n in notifications()? {
                    self.budgets
                        .create_notification()
                        .account_id(&account.id)
                        .budget_name(&want.name)
                        .notification(n)
                        .subscribers(subscriber(email)?)
                        .send()
                        .await
                        .map_err(|e| sdk_error("Budgets CreateNotification", &e, HINT_WRITE))?;
                }
            }
        }
        Ok(())
    }

    /// Deletes the budget `name` (with its notifications).
    pub async fn delete(&self, name: &str) -> Result<()> {
        let account = self.account().await?;
        match self.budgets.delete_budget().account_id(&account.id).budget_name(name).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found_exception()) => Ok(()),
            Err(e) => Err(sdk_error("Budgets DeleteBudget", &e, HINT_WRITE)),
        }
    }
}

/// Actual spend above 80% of the budget, and a forecast above 100%.
fn notifications() -> Result<[Notification; 2]> {
    let one = |kind: NotificationType, pct: f64| {
        Notification::builder()
            .notification_type(kind)
            .comparison_operator(ComparisonOperator::GreaterThan)
            .threshold(pct)
            .threshold_type(ThresholdType::Percentage)
            .build()
    };
    Ok([one(NotificationType::Actual, 80.0)?, one(NotificationType::Forecasted, 100.0)?])
}

fn subscriber(email: &str) -> Result<Subscriber> {
    Ok(Subscriber::builder().subscription_type(SubscriptionType::Email).address(email).build()?)
}
