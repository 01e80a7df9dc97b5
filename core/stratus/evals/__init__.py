"""Evals of an app's agents and teams, as AgentOS runs them: accuracy (a judge model scores the answer
against the expected one), agent as judge (a judge model checks the answer against criteria), performance
(run times and peak memory over timed runs) and reliability (the tools expected to be called against those
the run called). Each runs the component through its `Runnable` API and returns an `EvalRecord` in
AgentOS' shape, for a `Store` to keep.
"""

from __future__ import annotations

from stratus.evals._accuracy import JUDGE_INSTRUCTIONS, AccuracyJudgement, run_accuracy_eval
from stratus.evals._component import Component
from stratus.evals._judge import run_agent_as_judge_eval
from stratus.evals._performance import run_performance_eval
from stratus.evals._reliability import reliability_of, run_reliability_eval

__all__ = [
    "JUDGE_INSTRUCTIONS",
    "AccuracyJudgement",
    "Component",
    "reliability_of",
    "run_accuracy_eval",
    "run_agent_as_judge_eval",
    "run_performance_eval",
    "run_reliability_eval",
]
