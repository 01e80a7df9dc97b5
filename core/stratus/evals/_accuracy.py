"""Accuracy: the component answers the input, a judge model scores the answer against the expected output
from 1 to 10, once per iteration; `eval_data` is AgentOS' `AccuracyResult`."""

from __future__ import annotations

import logging
import statistics
from typing import Any

from pydantic import BaseModel, Field

from stratus.agent import Agent
from stratus.evals._component import Component, EvalRun
from stratus.models.base import Model
from stratus.run import RunStatus
from stratus.storage.records import EvalRecord, EvalType

__all__ = ["JUDGE_INSTRUCTIONS", "AccuracyJudgement", "accuracy_result", "run_accuracy_eval"]

logger = logging.getLogger("stratus.evals")

JUDGE_INSTRUCTIONS = """\
You judge how well an AI agent's answer matches the expected answer a user provided. Treat the expected
answer as correct, even where you would disagree: compare the agent's answer only to it.

You are given <agent_input> (the task), <expected_output> (the correct answer) and <agent_output> (the
agent's answer). Judge accuracy (how closely the answer matches the expected one) and completeness (whether
it has every key element of it). In your reason, name the similarities and differences, what was left out
or added, and any inaccuracy.

Score from 1 to 10, whole numbers only: 1-2 wrong or irrelevant; 3-4 major inaccuracies or missing key
information; 5-6 partly right with significant issues; 7-8 mostly accurate and complete, minor issues;
9-10 accurate and complete, matching the expected answer closely."""
"""What the judge is told (the guidelines and context a request adds follow it)."""


class AccuracyJudgement(BaseModel):
    """The judge's answer (AgentOS' `AccuracyAgentResponse`)."""

    accuracy_score: int = Field(..., ge=1, le=10, description="Accuracy score from 1 to 10 of the agent's answer.")
    accuracy_reason: str = Field(..., description="Detailed reasoning for the score.")


def accuracy_result(eval_id: str, results: list[dict[str, Any]]) -> dict[str, Any]:
    """AgentOS' `AccuracyResult` of these evaluations: the results and their score statistics."""
    scores = [r["score"] for r in results]
    if not scores:
        stats: dict[str, float | None] = dict.fromkeys(("avg", "mean", "min", "max", "std_dev"), None)
    else:
        mean = statistics.mean(scores)
        std_dev = statistics.stdev(scores) if len(scores) > 1 else 0
        stats = {"avg": mean, "mean": mean, "min": min(scores), "max": max(scores), "std_dev": std_dev}
    return {"run_id": eval_id, "results": results, **{f"{k}_score": v for k, v in stats.items()}}


def _judge(model: Model, additional_guidelines: str | None, additional_context: str | None) -> Agent:
    instructions = [JUDGE_INSTRUCTIONS]
    if additional_guidelines:
        instructions.append(f"## Additional guidelines\n{additional_guidelines}")
    if additional_context:
        instructions.append(f"## Additional context\n{additional_context}")
    return Agent(id="accuracy-judge", model=model, instructions=instructions, output_schema=AccuracyJudgement)


async def run_accuracy_eval(
    component: Component,
    *,
    input: str,
    expected_output: str,
    judge: Model,
    num_iterations: int = 1,
    additional_guidelines: str | None = None,
    additional_context: str | None = None,
    name: str | None = None,
    user_id: str | None = None,
) -> EvalRecord:
    """Run `component` on `input` `num_iterations` times, each in a session of its own, and have `judge`
    score each answer against `expected_output`. An iteration whose run or judgement fails is left out of
    the results (as AgentOS does)."""
    eval_run = EvalRun(component, name, user_id)
    judge_agent = _judge(judge, additional_guidelines, additional_context)
    results: list[dict[str, Any]] = []
    for iteration in range(1, num_iterations + 1):
        run = await eval_run.arun(input, iteration)
        output = run.content_dict()
        if run.status is not RunStatus.COMPLETED or not output:
            logger.warning("accuracy eval %s: iteration %d gave no answer: %s", eval_run.id, iteration, run.error)
            continue
        answer = output if isinstance(output, str) else str(output)
        prompt = (
            f"<agent_input>\n{input}\n</agent_input>\n\n<expected_output>\n{expected_output}\n</expected_output>"
            f"\n\n<agent_output>\n{answer}\n</agent_output>"
        )
        verdict = await judge_agent.arun(prompt)
        if verdict.status is not RunStatus.COMPLETED or not isinstance(verdict.content, AccuracyJudgement):
            logger.warning("accuracy eval %s: iteration %d was not judged: %s", eval_run.id, iteration, verdict.error)
            continue
        results.append(
            {
                "input": input,
                "output": answer,
                "expected_output": expected_output,
                "score": verdict.content.accuracy_score,
                "reason": verdict.content.accuracy_reason,
            }
        )
    eval_input = {
        "additional_guidelines": additional_guidelines,
        "additional_context": additional_context,
        "num_iterations": num_iterations,
        "expected_output": expected_output,
        "input": input,
    }
    return eval_run.record(
        EvalType.ACCURACY, accuracy_result(eval_run.id, results), eval_input, component_name=component.name
    )
