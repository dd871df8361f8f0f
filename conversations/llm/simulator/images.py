"""Image checks and costs, measured from the real bytes the way the API bills them."""

from __future__ import annotations

import base64
import binascii
import io

from PIL import Image

from conversations.llm.simulator.wire import invalid

# media_type -> the format Pillow reports for such a file.
IMAGE_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF", "image/webp": "WEBP"}
MAX_IMAGE_SIDE = 8000
MAX_IMAGES_PER_REQUEST = 100
MANY_IMAGES = 20
MANY_IMAGES_MAX_SIDE = 2000
IMAGE_TILE = 28  # one token per started 28x28 tile
# Sources we cannot measure (a URL the simulator will not fetch) count a flat figure.
UNMEASURED_ATTACHMENT_TOKENS = 1600


def decode_base64(loc: str, data: object) -> bytes:
    if not isinstance(data, str):
        raise invalid(f"{loc}.data: Input should be a valid string")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise invalid(f"{loc}.data: invalid base64 data") from None


def check_media_type(loc: str, media_type: object) -> str:
    if media_type not in IMAGE_FORMATS:
        allowed = "', '".join(IMAGE_FORMATS)
        raise invalid(f"{loc}.media_type: Input should be '{allowed}'")
    return str(media_type)


def image_size(loc: str, media_type: str, raw: bytes) -> tuple[int, int]:
    """Check that `raw` is an image of `media_type` within the size limit; its size."""
    check_media_type(loc, media_type)
    try:
        with Image.open(io.BytesIO(raw)) as image:
            (width, height), found = image.size, image.format
    except (OSError, ValueError, Image.DecompressionBombError):
        raise invalid(f"{loc}: Could not process image") from None
    if found != IMAGE_FORMATS[media_type]:
        raise invalid(f"{loc}: the image does not match the provided media type {media_type}")
    if max(width, height) > MAX_IMAGE_SIDE:
        raise invalid(f"{loc}: image dimensions exceed max allowed size: {MAX_IMAGE_SIDE} pixels")
    return width, height


def check_image_count(sizes: list[tuple[str, int, int]]) -> None:
    """The request-wide limits: at most 100 images, and beyond 20 none above 2000 px."""
    if len(sizes) > MAX_IMAGES_PER_REQUEST:
        raise invalid(
            f"messages: Too many images: {len(sizes)}; at most "
            f"{MAX_IMAGES_PER_REQUEST} images are allowed per request"
        )
    if len(sizes) > MANY_IMAGES:
        for loc, width, height in sizes:
            if max(width, height) > MANY_IMAGES_MAX_SIDE:
                raise invalid(
                    f"{loc}: At least one of the image dimensions exceed max allowed size for "
                    f"many-image requests: {MANY_IMAGES_MAX_SIDE} pixels"
                )
