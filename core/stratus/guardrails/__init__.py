"""Guardrails: checks given to an agent or a team as hooks (`pre_hooks=[...]`, some as `post_hooks` too).

    from stratus.guardrails import PIIDetectionGuardrail, PromptInjectionGuardrail

    agent = Agent(..., pre_hooks=[PromptInjectionGuardrail(), PIIDetectionGuardrail(mask_pii=True)])

A refused input ends the run with an `InputCheckError` (the API answers 422) whose `check_trigger` says why.
"""

from __future__ import annotations

from stratus.guardrails.base import BaseGuardrail
from stratus.guardrails.moderation import OpenAIModerationGuardrail
from stratus.guardrails.pii import PIIDetectionGuardrail, PIIMatch, find_pii
from stratus.guardrails.prompt_injection import PromptInjectionGuardrail, injection_signals

__all__ = [
    "BaseGuardrail",
    "OpenAIModerationGuardrail",
    "PIIDetectionGuardrail",
    "PIIMatch",
    "PromptInjectionGuardrail",
    "find_pii",
    "injection_signals",
]
