"""Workflows: steps (agents, teams, functions) run in order, in parallel, on a condition, in a loop or as a
function picks, each step's output feeding the next."""

from stratus.workflow.steps import Condition, Loop, Parallel, Router, Step, Steps, WorkflowStep
from stratus.workflow.types import StepInput, StepOutput
from stratus.workflow.workflow import Workflow

__all__ = [
    "Condition",
    "Loop",
    "Parallel",
    "Router",
    "Step",
    "StepInput",
    "StepOutput",
    "Steps",
    "Workflow",
    "WorkflowStep",
]
