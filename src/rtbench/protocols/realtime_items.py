"""The conversation items a Realtime session holds on the server, by turn, so that turns that
leave the client's context (its window, its token bound, a new conversation) are deleted there too."""

from __future__ import annotations

from typing import Any

__all__ = ["ItemLedger"]


class ItemLedger:
    """Item ids per completed turn, oldest first, and the ids of turns that did not complete."""

    __slots__ = ("_turns", "_current", "_stale")

    def __init__(self) -> None:
        self._turns: list[list[str]] = []
        self._current: list[str] = []
        self._stale: list[str] = []

    def start(self, user_item: str) -> None:
        """A turn sends its user item; the ids of a turn before it that never completed go stale."""
        self._stale.extend(self._current)
        self._current = [user_item]

    def completed(self, response: dict[str, Any]) -> None:
        """The turn in flight completed: its user item and the response's output items are kept."""
        output = response.get("output")
        if type(output) is list:
            self._current.extend(item["id"] for item in output if type(item) is dict and type(item.get("id")) is str)
        self._turns.append(self._current)
        self._current = []

    def to_delete(self, keep_turns: int, new_conversation: bool) -> list[str]:
        """The item ids to delete before the next turn: every one for a new conversation, else
        those of the oldest turns beyond `keep_turns` and of turns that did not complete."""
        self._stale.extend(self._current)
        self._current = []
        drop = len(self._turns) if new_conversation else max(0, len(self._turns) - keep_turns)
        for turn in self._turns[:drop]:
            self._stale.extend(turn)
        del self._turns[:drop]
        ids, self._stale = self._stale, []
        return ids
