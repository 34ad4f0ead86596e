"""The parts of AWS Budgets that moto (5.2) lacks and aideploy depends on.

Real AWS Budgets (API reference: CreateBudget, UpdateBudget, ListTagsForResource,
DescribeSubscribersForNotification):

- CreateBudget takes `ResourceTags` (a list of Key/Value) and keeps them on the budget,
  whose ARN is `arn:aws:budgets::{account}:budget/{name}`;
- ListTagsForResource answers the tags of a budget by ARN (NotFoundException when there
  is no such budget);
- UpdateBudget replaces the budget named by `NewBudget.BudgetName` (NotFoundException
  when it does not exist), keeping its notifications and tags;
- DescribeSubscribersForNotification lists the subscribers of one notification of a
  budget (NotFoundException when the budget or the notification does not exist).

moto stores subscribers with each notification but serves none of these.
"""

import json

from moto.budgets import models as m
from moto.budgets import responses as resp
from moto.budgets.exceptions import BudgetMissingLimit, NotFoundException

# Tags by budget ARN.
TAGS = {}


def _arn(account_id, name):
    return f"arn:aws:budgets::{account_id}:budget/{name}"


def _budget(backend, account_id, name, what):
    budget = backend.budgets[account_id].get(name)
    if budget is None:
        raise NotFoundException(f"Unable to {what} - the budget {name} doesn't exist.")
    return budget


_create_budget = resp.BudgetsResponse.create_budget
_delete_budget = resp.BudgetsResponse.delete_budget


def create_budget(self):
    out = _create_budget(self)
    account_id = self._get_param("AccountId")
    name = self._get_param("Budget")["BudgetName"]
    tags = self._get_param("ResourceTags") or []
    for t in tags:
        if set(t) != {"Key", "Value"}:
            raise NotFoundException("ResourceTags entries take Key and Value only")
    TAGS[_arn(account_id, name)] = {t["Key"]: t["Value"] for t in tags}
    return out


def delete_budget(self):
    out = _delete_budget(self)
    TAGS.pop(_arn(self._get_param("AccountId"), self._get_param("BudgetName")), None)
    return out


def update_budget(self):
    account_id = self._get_param("AccountId")
    new = self._get_param("NewBudget")
    old = _budget(self.backend, account_id, new["BudgetName"], "update budget")
    if "BudgetLimit" not in new and "PlannedBudgetLimits" not in new:
        raise BudgetMissingLimit()
    new["TimePeriod"] = new.get("TimePeriod") or old.budget.get("TimePeriod")
    old.budget = new
    old.budget["LastUpdatedTime"] = m.unix_time()
    return json.dumps({})


def list_tags_for_resource(self):
    arn = self._get_param("ResourceARN")
    if arn not in TAGS:
        raise NotFoundException(f"Unable to list tags - the resource {arn} doesn't exist.")
    return json.dumps({"ResourceTags": [{"Key": k, "Value": v} for k, v in TAGS[arn].items()]})


def describe_subscribers_for_notification(self):
    account_id = self._get_param("AccountId")
    name = self._get_param("BudgetName")
    wanted = self._get_param("Notification")
    budget = _budget(self.backend, account_id, name, "describe subscribers")
    for n in budget.notifications:
        if n.details == wanted:
            return json.dumps({"Subscribers": n.subscribers})
    raise NotFoundException(f"Unable to describe subscribers - the notification does not exist on budget {name}.")


resp.BudgetsResponse.create_budget = create_budget
resp.BudgetsResponse.delete_budget = delete_budget
resp.BudgetsResponse.update_budget = update_budget
resp.BudgetsResponse.list_tags_for_resource = list_tags_for_resource
resp.BudgetsResponse.describe_subscribers_for_notification = describe_subscribers_for_notification
