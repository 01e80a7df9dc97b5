"""Teams: agents (and teams) that answer together, led by a model that routes, coordinates or gathers."""

from stratus.team.team import Team, TeamMode

__all__ = ["Team", "TeamMode"]
