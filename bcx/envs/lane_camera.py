"""Cameras for bcx/Lane-v0, rendered in pure numpy: the forward view of ALVINN and PilotNet.

A pinhole camera on the car looks over flat ground at the road of ``bcx.envs.lane``, whose centre
line has curvature kappa(s) = sum_i amplitude_i sin(wavenumber_i s + phase_i). A frame is drawn
in the *road frame at s*: origin on the centre line at arc length s, x along its tangent, y to
the left. The centre line from s - LOOK_BEHIND to s + LOOK_AHEAD is integrated from its heading
theta(s) = integral of kappa (closed form); each pixel's ray meets the ground at a point fixed in
the car's frame (cached per camera and size), which the car's pose (d, psi) places in the road
frame; the point's signed lateral distance to the centre line, found by Newton's method on the
arc length, picks its colour: asphalt, white edge markings at +-half_width, asphalt shoulder,
grass. Colour boundaries are blended over each pixel's footprint (anti-aliasing), so the edges
stay visible at 32x32. Above the horizon is sky; ground beyond MAX_RANGE is drawn as grass.

``synthesize_view`` is NVIDIA's viewpoint synthesis (PilotNet, Bojarski et al. 2016): the frame
a camera would see from a car shifted sideways and rotated, by the homography of the ground
plane, resampled with torch's ``grid_sample`` (torchvision's ``perspective`` does the same, but
PyPI's torchvision wheel does not load with bcx's CPU torch).
"""

from __future__ import annotations

import cmath
import functools
import math
from dataclasses import dataclass

import numpy as np

from bcx.errors import BCXError

MIN_SIZE = 16  # px: below it a frame cannot show both road edges
LOOK_BEHIND, LOOK_AHEAD, STEP = 5.0, 60.0, 0.5  # m: the stretch of centre line drawn, its step
# m from the camera: farther ground is grass (it lies within 1-2 px of the horizon)
MAX_RANGE = 50.0
NEWTON_STEPS = 2  # reach mm accuracy near the road (curve radius >= 12.5 m); 1 does not
FAR = 10.0  # m: lateral distances are capped here, all of it is grass
SKY = np.array([150, 195, 235], np.uint8)
ASPHALT, MARKING = np.array([90, 90, 95], np.float32), np.array([245, 245, 245], np.float32)
GRASS = np.array([50, 120, 40], np.float32)
# Colour change across the inner and outer edge of a marking and onto the grass, (3 edges, RGB).
BLEND = np.stack([MARKING - ASPHALT, ASPHALT - MARKING, GRASS - ASPHALT])


@dataclass(frozen=True)
class Camera:
    """A pinhole camera fixed to the car, square image, no roll.

    lateral: m, sideways from the car's axis, positive left; yaw: rad, from the car's heading,
    positive left; height: m above the ground; pitch: rad, downwards; fov: rad, horizontal (and
    vertical) field of view; forward: m ahead of the car's reference point (the rear axle).
    """

    lateral: float
    yaw: float
    height: float = 1.2
    pitch: float = 0.3
    fov: float = 1.4
    forward: float = 1.5


# NVIDIA's rig: three cameras facing forward, the side ones 0.7 m out (a 1.8 m wide car).
CAMERAS = {
    "center": Camera(lateral=0.0, yaw=0.0),
    "left": Camera(lateral=0.7, yaw=0.0),
    "right": Camera(lateral=-0.7, yaw=0.0),
}


@dataclass(frozen=True, eq=False)
class Road:
    """The road of ``bcx.envs.lane``: kappa(s) = sum_i amplitude_i sin(wavenumber_i s + phase_i).

    wavenumber: rad/m, (n,); phase: rad, (n,); amplitude: 1/m, (n,).
    half_width: m, centre line to the middle of each edge marking; marking: m, its width;
    shoulder: m of asphalt from the middle of the marking outwards, then grass.
    """

    wavenumber: np.ndarray
    phase: np.ndarray
    amplitude: np.ndarray
    half_width: float = 1.0
    marking: float = 0.25
    shoulder: float = 0.5


def get_camera(camera: Camera | str) -> Camera:
    """A Camera as is, or the one CAMERAS names; BCXError listing the names for another."""
    if isinstance(camera, Camera):
        return camera
    if camera not in CAMERAS:
        raise BCXError(f"Unknown lane camera {camera!r}; the cameras are {', '.join(CAMERAS)}.")
    return CAMERAS[camera]


def check_size(size: int) -> int:
    """The image side in pixels, as int; BCXError if it is below MIN_SIZE."""
    if int(size) != size or size < MIN_SIZE:
        raise BCXError(f"Lane camera image size must be an integer >= {MIN_SIZE}, got {size}.")
    return int(size)


def ground_homography(camera: Camera | str, size: int) -> np.ndarray:
    """(3, 3) float64: ground point (x forward, y left, 1) in the car frame, m -> homogeneous
    pixel (col, row, 1) * depth, pixel centres at integer + 0.5; the third coordinate is the
    point's depth along the optical axis (positive in front of the camera)."""
    cam, size = get_camera(camera), check_size(size)
    focal = size / 2 / math.tan(cam.fov / 2)
    intrinsics = np.array([[focal, 0.0, size / 2], [0.0, focal, size / 2], [0.0, 0.0, 1.0]])
    cp, sp, cy, sy = math.cos(cam.pitch), math.sin(cam.pitch), math.cos(cam.yaw), math.sin(cam.yaw)
    forward = np.array([cp * cy, cp * sy, -sp])
    right = np.array([sy, -cy, 0.0])
    rotation = np.stack([right, np.cross(forward, right), forward])  # car -> camera (x, y down, z)
    centre = np.array([cam.forward, cam.lateral, cam.height])
    return intrinsics @ np.column_stack([rotation[:, 0], rotation[:, 1], -rotation @ centre])


@functools.lru_cache(maxsize=64)
def _pixels(size: int) -> np.ndarray:
    """(3, size * size): homogeneous pixel centres (col, row, 1), row-major."""
    rows, cols = np.mgrid[0:size, 0:size] + 0.5
    pixels = np.stack([cols.ravel(), rows.ravel(), np.ones(size * size)])
    pixels.flags.writeable = False
    return pixels


@functools.lru_cache(maxsize=64)
def _rays(camera: Camera, size: int) -> tuple[int, np.ndarray, np.ndarray]:
    """Where the pixels' rays meet the ground (cached; read-only arrays).

    Returns horizon, the number of top rows whose rays never meet the ground in front (a
    camera without roll has a level horizon, so they are whole rows); near (n,) int, the flat
    indices, within the rows below, of the pixels whose ray meets the ground within MAX_RANGE;
    xy (n,) complex, m, those points x + iy in the car frame (x forward, y left)."""
    ground = np.linalg.solve(ground_homography(camera, size), _pixels(size))
    horizon = int(np.count_nonzero(ground[2] <= 0.0)) // size  # ground behind the camera
    ground = ground[:, horizon * size :]
    xy = ground[0] / ground[2] + 1j * (ground[1] / ground[2])
    near = np.flatnonzero(np.abs(xy - (camera.forward + 1j * camera.lateral)) < MAX_RANGE)
    xy = xy[near]
    near.flags.writeable = xy.flags.writeable = False
    return horizon, near, xy


def _centre_line(road: Road, s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The centre line at m arc lengths s + u, u = -LOOK_BEHIND..LOOK_AHEAD step STEP, in the
    road frame at s, as complex numbers x + iy: positions (m,), m; conjugate unit tangents
    exp(-i theta) (m,); STEP * kappa (m,), kappa in 1/m."""
    u = np.arange(-LOOK_BEHIND, LOOK_AHEAD + STEP / 2, STEP)
    angle = np.outer(s + u, road.wavenumber) + road.phase
    theta = np.cos(angle) @ (-road.amplitude / road.wavenumber)  # + const: d theta / ds = kappa
    zero = round(LOOK_BEHIND / STEP)
    tangent = np.exp(1j * (theta - theta[zero]))  # 1 at u = 0: the frame's x is the tangent there
    # Trapezoid rule; its error over 60 m is a few mm.
    position = np.concatenate([[0.0], np.cumsum(tangent[1:] + tangent[:-1]) * (STEP / 2)])
    return position - position[zero], tangent.conj(), STEP * (np.sin(angle) @ road.amplitude)


def _lateral(road: Road, s: float, points: np.ndarray) -> np.ndarray:
    """Signed lateral distance, m, positive left, from road-frame points x + iy (n,) complex to
    the centre line, capped at +-FAR; FAR where Newton's method on the arc length (started at
    u = x) ends off the drawn stretch: the foot of the perpendicular lies beyond it."""
    samples = _centre_line(road, s)
    (position, tangent, kappa), (d_position, d_tangent, d_kappa) = samples, map(np.diff, samples)
    last = len(d_kappa) - 1
    at = np.clip((points.real + LOOK_BEHIND) / STEP, 0.0, last + 1.0)  # u in samples
    for step in range(NEWTON_STEPS + 1):
        index = np.minimum(at.astype(np.intp), last)
        frac = at - index  # linear interpolation between the samples
        # offset: point - foot of the perpendicular, in the tangent's frame: along + i lateral
        foot = position.take(index) + frac * d_position.take(index)
        offset = (points - foot) * (tangent.take(index) + frac * d_tangent.take(index))
        if step < NEWTON_STEPS:  # d(along)/du = -(1 - kappa lateral): Newton's step on along = 0
            curving = STEP - (kappa.take(index) + frac * d_kappa.take(index)) * offset.imag
            at += offset.real / np.maximum(curving, 0.2 * STEP)
            np.clip(at, 0.0, last + 1.0, out=at)
    return np.where(np.abs(offset.real) < 0.5, np.clip(offset.imag, -FAR, FAR), FAR)


def _paint(road: Road, distance: np.ndarray) -> np.ndarray:
    """(rows, size, 3) uint8 from |lateral| distances (rows, size) float32, m (FAR on grass).
    Each colour boundary is blended over the pixel's footprint in lateral metres, taken as the
    largest change of the distance to a 4-neighbour, at most 1 m (near the horizon whole rows
    would blur into one)."""
    step_x, step_y = np.abs(np.diff(distance, axis=1)), np.abs(np.diff(distance, axis=0))
    footprint = np.full_like(distance, 0.02)
    np.maximum(footprint[:, 1:], step_x, out=footprint[:, 1:])
    np.maximum(footprint[:, :-1], step_x, out=footprint[:, :-1])
    np.maximum(footprint[1:], step_y, out=footprint[1:])
    np.maximum(footprint[:-1], step_y, out=footprint[:-1])
    inverse = 1.0 / np.minimum(footprint, 1.0, out=footprint)
    scaled = distance * inverse + 0.5
    half, outer = road.marking / 2, road.half_width + road.shoulder
    image = np.empty((3, *distance.shape), np.float32)
    image[:] = ASPHALT[:, None, None]
    for edge, change in zip(
        (road.half_width - half, road.half_width + half, outer), BLEND, strict=True
    ):
        beyond = scaled - np.float32(edge) * inverse  # the fraction of the pixel beyond `edge`
        np.minimum(np.maximum(beyond, 0.0, out=beyond), 1.0, out=beyond)
        image += change[:, None, None] * beyond
    return (image.transpose(1, 2, 0) + 0.5).astype(np.uint8)


def render(
    road: Road,
    s: float,
    d: float,
    psi: float,
    camera: Camera | str,
    size: int,
    *,
    shift: float = 0.0,
    rotation: float = 0.0,
) -> np.ndarray:
    """The frame (size, size, 3) uint8 of `camera` (a Camera or a CAMERAS name) on a car at arc
    length s (m), lateral offset d (m, left) and heading error psi (rad, left), shifted sideways
    by `shift` m (perpendicular to its heading, positive left) and then turned by `rotation` rad
    (about its reference point, positive left): the pose ``synthesize_view`` imitates."""
    cam, size = get_camera(camera), check_size(size)
    horizon, near, xy = _rays(cam, size)
    car = 1j * d + 1j * shift * cmath.exp(1j * psi)  # the moved car in the road frame at s
    distance = np.full((size - horizon) * size, FAR, np.float32)
    distance[near] = np.abs(_lateral(road, s, car + cmath.exp(1j * (psi + rotation)) * xy))
    image = np.empty((size, size, 3), np.uint8)
    image[:horizon] = SKY
    image[horizon:] = _paint(road, distance.reshape(-1, size))
    return image


def viewpoint_homography(
    camera: Camera | str,
    size: int,
    shift: float | np.ndarray = 0.0,
    rotation: float | np.ndarray = 0.0,
) -> np.ndarray:
    """(3, 3), or (n, 3, 3) for shift / rotation arrays (n,): homogeneous pixel (col, row, 1) of
    `camera` on the car moved as in ``render`` (shift m left, then rotation rad left) -> the
    homogeneous pixel of the same ground point seen from the unmoved car (pixel centres at
    integer + 0.5). Valid for pixels below the horizon; the source third coordinate is
    positive where the ground point is in front of the unmoved camera."""
    to_image = ground_homography(camera, size)
    shift, rotation = np.broadcast_arrays(np.asarray(shift, float), np.asarray(rotation, float))
    move = np.zeros((*shift.shape, 3, 3))  # moved-car ground point -> unmoved-car ground point
    move[..., 0, 0] = move[..., 1, 1] = np.cos(rotation)
    move[..., 1, 0] = np.sin(rotation)
    move[..., 0, 1] = -move[..., 1, 0]
    move[..., 1, 2] = shift
    move[..., 2, 2] = 1.0
    return to_image @ move @ np.linalg.inv(to_image)


def synthesize_view(
    image: np.ndarray,
    camera: Camera | str,
    shift: float | np.ndarray,
    rotation: float | np.ndarray,
) -> np.ndarray:
    """NVIDIA's viewpoint synthesis: the frame `camera` would see from the car moved by `shift`
    m sideways (left) and then `rotation` rad (left), as in ``render``, assuming flat ground.

    image: (size, size, 3) uint8, or (n, size, size, 3) with shift / rotation scalars or (n,).
    Returns the same shape, uint8. The ground is resampled bilinearly through
    ``viewpoint_homography`` (torch's grid_sample); pixels above the horizon are kept as they
    are (sky). Ground that the original frame did not show (beyond its sides or bottom, or
    behind its camera) takes the colour of the nearest edge pixel of the original frame."""
    import torch  # here, not at the top: the env imports this module and rarely warps

    cam, batch = get_camera(camera), np.asarray(image)
    single = batch.ndim == 3
    batch = batch[None] if single else batch
    if batch.ndim != 4 or batch.shape[1] != batch.shape[2] or batch.shape[3] != 3:
        raise BCXError(f"synthesize_view needs (size, size, 3) images, got {np.shape(image)}.")
    size = batch.shape[1]
    homography = viewpoint_homography(cam, check_size(size), shift, rotation)
    source = np.broadcast_to(homography, (len(batch), 3, 3)) @ _pixels(size)  # (n, 3, size^2)
    depth = source[:, 2:]  # (n, 1, size^2)
    valid = depth > 1e-9
    # Normalised [-1, 1] coordinates (align_corners=False); behind the camera: far off, border.
    grid = np.where(valid, source[:, :2] / np.where(valid, depth, 1.0), -1e4) * (2 / size) - 1
    grid = grid.transpose(0, 2, 1).reshape(len(batch), size, size, 2)
    pixels = torch.from_numpy(np.ascontiguousarray(batch.transpose(0, 3, 1, 2))).float()
    warped = torch.nn.functional.grid_sample(
        pixels, torch.from_numpy(grid).float(), "bilinear", "border", align_corners=False
    )
    warped = warped.round().clamp(0, 255).to(torch.uint8).numpy().transpose(0, 2, 3, 1)
    horizon = _rays(cam, size)[0]
    result = np.concatenate([batch[:, :horizon], warped[:, horizon:]], axis=1)
    return result[0] if single else result
