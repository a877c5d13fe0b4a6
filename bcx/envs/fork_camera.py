"""A fixed top-down camera over the fork's arena, drawn in pure numpy (no MuJoCo, no GL).

The picture: the floor inside the walls, the walls as a one-pixel border around the longer side
of the arena, the obstacle (red disc), the goal (green disc, the region the body's centre must
reach) and the body (blue disc). The arena's bounding box is fitted into the square with its
aspect kept, centred; world +x is image right and world +y is image up. Everything but the body
is drawn once; a frame copies that background and blends the body into the few pixels around
it, with anti-aliased edges so that a sub-pixel move still changes the image. The body is drawn
at least MIN_BODY_PIXELS wide in radius, so at 32 px it can look closer to the obstacle than it
is; touching is still decided by the env's geometry.
"""

from __future__ import annotations

import numpy as np

from bcx.errors import BCXError

MIN_SIZE = 16  # px; smaller images lose the gap between the obstacle and the walls
MIN_BODY_PIXELS = 1.5  # px, the smallest radius the body is drawn with
FLOOR = (200, 200, 190)  # RGB of the arena floor
WALL = (60, 60, 70)  # RGB of the walls and of whatever lies outside them
OBSTACLE = (200, 40, 40)
GOAL = (40, 170, 60)
BODY = (30, 70, 230)


def check_size(size: int) -> int:
    """The image side in pixels, as int; BCXError naming env.pixels.image_size otherwise."""
    if isinstance(size, bool) or int(size) != size or size < MIN_SIZE:
        raise BCXError(
            f"env.pixels.image_size must be an integer >= {MIN_SIZE} (pixels, the side of fork's "
            f"square top-down image), got {size!r}."
        )
    return int(size)


class TopDownCamera:
    """Renders (size, size, 3) uint8 top-down frames of the fork's arena for a body position.

    walls: (2, 2) m, the arena's [[x_min, y_min], [x_max, y_max]]; obstacle / goal: (2,) m,
    centres; obstacle_radius / goal_radius / body_radius: m; size: px, the side of a frame.
    """

    def __init__(
        self,
        walls: np.ndarray,
        obstacle: np.ndarray,
        obstacle_radius: float,
        goal: np.ndarray,
        goal_radius: float,
        body_radius: float,
        size: int,
    ) -> None:
        self.size = check_size(size)
        walls = np.asarray(walls, dtype=np.float64)
        # m per pixel: the longer side spans all pixels but a wall pixel at each end.
        self.pixel = float(np.max(walls[1] - walls[0])) / (self.size - 2)
        centre = walls.mean(axis=0)
        offsets = (np.arange(self.size) + 0.5 - self.size / 2) * self.pixel
        # The grid is separable: pixel centre (row, col) lies at (x[col], y[row]), m.
        self.x = centre[0] + offsets
        self.y = centre[1] - offsets  # row 0 is the top of the image, the far end of the arena
        self.body_radius = max(float(body_radius), MIN_BODY_PIXELS * self.pixel)
        self.background = self._background(walls, obstacle, obstacle_radius, goal, goal_radius)

    def render(self, position: np.ndarray) -> np.ndarray:
        """The frame (size, size, 3) uint8 with the body's centre at position (2,) m."""
        frame = self.background.copy()
        x, y = float(position[0]), float(position[1])
        # Only pixels within the drawn radius plus one pixel can be touched by the body.
        reach = self.body_radius + self.pixel
        cols = np.flatnonzero(np.abs(self.x - x) <= reach)
        rows = np.flatnonzero(np.abs(self.y - y) <= reach)
        if len(cols) == 0 or len(rows) == 0:
            return frame
        window = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        distance = np.hypot(self.y[window[0], None] - y, self.x[None, window[1]] - x)
        patch = frame[window].astype(np.float32)
        frame[window] = _blend(patch, self._coverage(distance, self.body_radius), BODY)
        return frame

    def _background(
        self,
        walls: np.ndarray,
        obstacle: np.ndarray,
        obstacle_radius: float,
        goal: np.ndarray,
        goal_radius: float,
    ) -> np.ndarray:
        """The static part (size, size, 3) uint8: floor, walls, goal, obstacle."""
        inside = ((self.x >= walls[0, 0]) & (self.x <= walls[1, 0]))[None, :] & (
            (self.y >= walls[0, 1]) & (self.y <= walls[1, 1])
        )[:, None]
        image = np.where(inside[..., None], np.float32(FLOOR), np.float32(WALL))
        for centre, radius, colour in (
            (goal, goal_radius, GOAL),
            (obstacle, obstacle_radius, OBSTACLE),
        ):
            distance = np.hypot(self.y[:, None] - centre[1], self.x[None, :] - centre[0])
            image = _blend(image, self._coverage(distance, radius), colour).astype(np.float32)
        return image.astype(np.uint8)

    def _coverage(self, distance: np.ndarray, radius: float) -> np.ndarray:
        """How much of each pixel a disc covers, (H, W) in [0, 1], from the distances (H, W) m
        of the pixel centres to the disc's centre: a one-pixel linear ramp at the edge."""
        return np.clip((radius - distance) / self.pixel + 0.5, 0.0, 1.0).astype(np.float32)


def _blend(image: np.ndarray, alpha: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    """image (H, W, 3) float32 covered by colour with alpha (H, W) -> (H, W, 3) uint8."""
    mixed = image + alpha[..., None] * (np.float32(colour) - image)
    return np.rint(mixed).astype(np.uint8)
