"""`hotline forecast`: the staffing calculator for planners (Erlang C, or Erlang A with patience)."""

from __future__ import annotations

import json
import math

import click

from core.errors import ValidationFailed


def _percent(value: float) -> str:
    return f"{value * 100:.1f} %"


@click.command()
@click.option("--calls", type=float, required=True, help="Calls offered in the interval.")
@click.option("--interval-minutes", type=int, default=30, show_default=True, help="Interval length.")
@click.option("--aht-seconds", type=float, required=True, help="Average handle time (talk + hold + wrap-up).")
@click.option("--target-percent", type=float, default=80.0, show_default=True,
              help="Service level target: percent of calls answered within --target-seconds.")
@click.option("--target-seconds", type=float, default=20.0, show_default=True, help="Answer-time target.")
@click.option("--shrinkage", type=float, default=0.0, show_default=True,
              help="Share of paid time off the phones, as percent (30) or fraction (0.3).")
@click.option("--max-occupancy", type=float, default=100.0, show_default=True,
              help="Highest acceptable occupancy, as percent (85) or fraction (0.85).")
@click.option("--patience-seconds", type=float, default=None,
              help="Callers' mean patience; switches from Erlang C to Erlang A (abandons).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def forecast(calls: float, interval_minutes: int, aht_seconds: float, target_percent: float, target_seconds: float,
             shrinkage: float, max_occupancy: float, patience_seconds: float | None, as_json: bool) -> None:
    """Agents needed for one interval, with the service level, average speed of answer,
    occupancy and waiting probability they give."""
    from scheduling.forecast import Targets, staff_interval

    def fraction(value: float) -> float:
        return value / 100.0 if value > 1 else value

    try:
        targets = Targets(level=target_percent / 100.0, seconds=target_seconds, shrinkage=fraction(shrinkage),
                          max_occupancy=fraction(max_occupancy), patience_seconds=patience_seconds)
        result = staff_interval(calls, interval_minutes=interval_minutes, aht_seconds=aht_seconds, targets=targets)
    except ValidationFailed as exc:
        raise click.UsageError(exc.message) from exc
    model = "erlang_a" if patience_seconds else "erlang_c"
    if as_json:
        data = result.as_dict()
        data.pop("start")
        data["model"] = model
        click.echo(json.dumps({k: (None if isinstance(v, float) and math.isinf(v) else v) for k, v in data.items()}))
        return
    click.echo(f"Model:               {'Erlang A (with abandons)' if patience_seconds else 'Erlang C'}")
    click.echo(f"Traffic:             {result.traffic:.2f} Erlangs")
    click.echo(f"Agents needed:       {result.agents}")
    click.echo(f"Agents to schedule:  {result.scheduled_agents} (shrinkage {_percent(targets.shrinkage)})")
    click.echo(f"Service level:       {_percent(result.service_level)} within {target_seconds:g} s")
    click.echo(f"Average speed of answer: {result.asa_seconds:.1f} s")
    click.echo(f"Occupancy:           {_percent(result.occupancy)}")
    click.echo(f"Waiting probability: {_percent(result.wait_probability)}")
    if result.abandon_probability is not None:
        click.echo(f"Abandon probability: {_percent(result.abandon_probability)}")
