"""Agents: `Agent` declares one; the run loop in `_loop.py` runs it."""

from stratus.agent.agent import Agent, Instructions

__all__ = ["Agent", "Instructions"]
