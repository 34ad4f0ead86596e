"""The percentile statistics moto's CloudWatch lacks, added to its backend.

moto (5.2) answers GetMetricData with the five standard statistics (Sum, Average,
Minimum, Maximum, SampleCount) only: a `p50` or `p95` query gets no value. Real CloudWatch
(API reference: GetMetricData, MetricStat.Stat; the user guide's "Percentiles"):

- `pNN` and `pNN.NN` (0 < NN <= 100) are statistics of a MetricStat like the standard
  ones, one value per period that has data;
- percentiles come from the raw values; a period whose data was published as statistic
  sets (StatisticValues) has no percentile, and neither does one with a negative value;
- a statistic that is neither standard nor an extended one is a ValidationError.

CloudWatch approximates percentiles; this computes them exactly, by nearest rank (the
smallest value that at least NN% of the values are at or below), which is what CloudWatch
returns for small sets of distinct values. Imported by moto_lambda.py, so every moto the
tests start has it.
"""

import math
import re

from moto.cloudwatch import models as m
from moto.cloudwatch.exceptions import ValidationError

STANDARD = ("Sum", "Average", "Minimum", "Maximum", "SampleCount")
PERCENTILE = re.compile(r"^p(\d{1,2}(\.\d{1,2})?|100)$")


def nearest_rank(values, q):
    v = sorted(values)
    rank = max(1, min(len(v), math.ceil(round(q * len(v), 9))))
    return v[rank - 1]


_standard = m.Statistics.get_statistics_for_type


def _statistic(self, stat):
    found = PERCENTILE.match(stat)
    if not found:
        return _standard(self, stat)
    q = float(found.group(1)) / 100.0
    if q <= 0:
        return None
    if self.metric_aggregated_list:
        return None
    values = self.metric_single_values_list
    if not values or any(v < 0 for v in values):
        return None
    return nearest_rank(values, q)


_get_metric_data = m.CloudWatchBackend.get_metric_data


def _get_metric_data_checked(self, queries, start_time, end_time, scan_by="TimestampAscending"):
    for i, q in enumerate(queries, 1):
        stat = q.get("MetricStat", {}).get("Stat")
        if stat is not None and stat not in STANDARD and not PERCENTILE.match(stat):
            raise ValidationError(f"The value {stat} for parameter MetricDataQueries.member.{i}.MetricStat.Stat is not supported.")
    results = _get_metric_data(self, queries, start_time, end_time, scan_by)
    # A period without a value of this statistic has no datapoint (not a null one).
    for r in results:
        kept = [(t, v) for t, v in zip(r["timestamps"], r["values"]) if v is not None]
        r["timestamps"] = [t for t, _ in kept]
        r["values"] = [v for _, v in kept]
    return results


m.Statistics.get_statistics_for_type = _statistic
m.CloudWatchBackend.get_metric_data = _get_metric_data_checked
