"""OpenAI moderation as a guardrail: the input is sent to OpenAI's `/moderations` endpoint (through the openai
SDK, with the key and endpoint the OpenAI models use) and a flagged one stops the run."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from stratus.exceptions import CheckTrigger, InputCheckError
from stratus.guardrails.base import BaseGuardrail
from stratus.models.openai import OpenAIClientOwner

if TYPE_CHECKING:
    from openai import AsyncOpenAI

    from stratus.run import RunInput

__all__ = ["OpenAIModerationGuardrail"]

logger = logging.getLogger("stratus.guardrails")


class OpenAIModerationGuardrail(BaseGuardrail, OpenAIClientOwner):
    """Stops a run whose input OpenAI's moderation flags (`InputCheckError`, `check_trigger=
    INPUT_NOT_ALLOWED`, the categories and scores in `additional_data`).

    Args:
        moderation_model: The moderation model (agno's default, `omni-moderation-latest`).
        raise_for_categories: Refuse only for these categories (`"violence"`, `"hate"`, ...); all by default.
        api_key, base_url: As for `OpenAIChat` (`OPENAI_API_KEY`, `OPENAI_BASE_URL` by default).
        fail_closed: Refuse the input when moderation cannot answer (no key, the API down); by default the
            run goes on without it, and the failure is logged.
    """

    def __init__(
        self,
        moderation_model: str = "omni-moderation-latest",
        raise_for_categories: Sequence[str] | None = None,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float = 10.0,
        max_retries: int = 2,
        client: AsyncOpenAI | None = None,
        fail_closed: bool = False,
    ) -> None:
        self.id = moderation_model
        self.moderation_model = moderation_model
        self.raise_for_categories = list(raise_for_categories) if raise_for_categories is not None else None
        self.fail_closed = fail_closed
        self._init_client(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries, client=client, deadline=30.0
        )

    async def moderate(self, text: str) -> dict[str, Any]:
        """OpenAI's verdict on `text`: `flagged`, `categories` and `category_scores` (by category name)."""
        response = await self._within_deadline(
            lambda: self.client.moderations.create(model=self.moderation_model, input=text)
        )
        result = response.results[0]
        return {
            "flagged": result.flagged,
            "categories": result.categories.model_dump(by_alias=True),
            "category_scores": result.category_scores.model_dump(by_alias=True),
        }

    async def async_check(self, run_input: RunInput) -> None:
        try:
            verdict = await self.moderate(run_input.input_content)
        except Exception as exc:
            if self.fail_closed:
                raise InputCheckError(
                    f"moderation is unavailable: {exc}", check_trigger=CheckTrigger.INPUT_NOT_ALLOWED
                ) from exc
            logger.warning("moderation failed, the input goes through unchecked: %s", exc)
            return
        if not verdict["flagged"]:
            return
        flagged = [name for name, on in verdict["categories"].items() if on]
        wanted = self.raise_for_categories
        if wanted is not None and not any(name in wanted for name in flagged):
            return
        raise InputCheckError(
            "OpenAI moderation violation detected.",
            check_trigger=CheckTrigger.INPUT_NOT_ALLOWED,
            additional_data={
                "flagged_categories": flagged,
                "categories": verdict["categories"],
                "category_scores": verdict["category_scores"],
            },
        )
