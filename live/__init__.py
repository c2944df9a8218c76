"""Stream point clouds from your own Python program: ``from live import Streamer`` (live/streamer.py)."""
from .streamer import Streamer

__all__ = ["Streamer"]
