"""Uploaded image -> the images we store and send: re-encoded, bounded, stripped of metadata.

Nothing the person uploaded is kept as is. The file is parsed by Pillow as JPEG, PNG, GIF or
WebP only (never by its name or the client's media type), checked against pixel limits before
any pixel is decoded, fully decoded, turned upright, converted to sRGB and re-encoded from the
pixels alone: EXIF, GPS, XMP, comments, text chunks and ICC profiles do not survive, nor does
anything appended to the file (HTML, scripts).

Decoding untrusted files is the risky part, so the web server calls `image_normalize_isolated`,
which runs `image_normalize` in a child process bounded in time and memory (isolation.py).

Sizes: a size fitted to an edge keeps the long side at exactly that edge and rounds the short
side half up (`_fit`): 5000x3000 -> 2576x1546 -> 1568x941.
"""

from __future__ import annotations

import functools
import io
import logging
import os
import struct
import warnings
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings

# The plugins are imported (registered) here so that the fork server preloads them: Image.open
# would otherwise import every plugin Pillow has on the first WebP it meets, in every child.
from PIL import (
    ExifTags,
    GifImagePlugin,  # noqa: F401
    Image,
    ImageCms,
    JpegImagePlugin,  # noqa: F401
    PngImagePlugin,  # noqa: F401
    UnidentifiedImageError,
    WebPImagePlugin,  # noqa: F401
)

from conversations.llm.models import IMAGE_EDGE_HIGH_RES, IMAGE_EDGE_STANDARD
from conversations.services.isolation import IsolatedFailure, run_isolated

logger = logging.getLogger(__name__)

FORMATS = ("JPEG", "PNG", "GIF", "WEBP")
# The file signatures of those formats: a file that has one but does not open is damaged.
SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a")

THUMBNAIL_EDGE = 320
# The API takes at most 5 MB of base64 per image, i.e. 3.75 MiB of file.
MAX_ENCODED_BYTES = 5 * 1024 * 1024 * 3 // 4
# A transparent image is sent as PNG up to this size, as (lossy) WebP beyond.
MAX_PNG_WITH_ALPHA_BYTES = 3_500_000
# An opaque PNG this big is tried as JPEG too: a photo saved as PNG shrinks to less than half.
PHOTO_AS_PNG_BYTES = 1_000_000
JPEG_QUALITIES = (85, 75, 65, 50)
WEBP_QUALITIES = (80, 50)  # for colour and alpha alike
THUMBNAIL_QUALITY = 80
# Each round that still does not fit MAX_ENCODED_BYTES shrinks the image to this fraction.
SHRINK_NUMERATOR, SHRINK_DENOMINATOR = 3, 4
# Resizing is most of the work: 12 MP to 2576 px costs ~100 ms of CPU with BILINEAR, ~170 with
# BICUBIC, ~250 with LANCZOS. Pillow widens the filter with the reduction, so BILINEAR does
# antialias (no more aliasing than BICUBIC on a zone plate, text stays legible), a little softer.
RESAMPLE = Image.Resampling.BILINEAR
# Pillow's resize: "reducing_gap=3.0 gives results indistinguishable from fair resampling";
# 2.0 (its thumbnail() default) is plenty for thumbnails.
REDUCING_GAP = 3.0
THUMBNAIL_REDUCING_GAP = 2.0
# Pillow resizes on one core: a large output is computed as vertical bands (columns), one per
# core, in threads (Pillow releases the GIL while it resamples). Column bands keep Pillow's pass
# order; row bands would not, and differ visibly.
RESIZE_BANDS = min(4, len(os.sched_getaffinity(0)))
BANDED_RESIZE_MIN_PIXELS = 1_000_000

# What Pillow raises on a damaged file (its decoders: OSError; its parsers: the others).
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error, zlib.error)

# EXIF orientation -> the transposition that makes the image upright (as ImageOps.exif_transpose).
ORIENTATIONS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

EMPTY = "This file is empty."
NOT_AN_IMAGE = "Only JPEG, PNG, GIF and WebP images can be attached."
DAMAGED = "This image could not be read: the file is damaged or incomplete."
TOO_MANY_FRAMES = "This animation has too many frames to process."
TOO_COMPLEX = "This image is too large or complex to process."


class ImageRejected(Exception):
    """A file we will not store; `message` is shown to the person as is (clear, no jargon)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class ImageLimits:
    max_pixels: int  # per frame
    max_total_pixels: int  # summed over all frames

    @classmethod
    def from_settings(cls) -> ImageLimits:
        return cls(
            max_pixels=settings.CHATSITE_IMAGE_MAX_PIXELS,
            max_total_pixels=settings.CHATSITE_IMAGE_MAX_TOTAL_PIXELS,
        )


@dataclass(frozen=True)
class EncodedImage:
    data: bytes
    media_type: str  # "image/jpeg" | "image/png" | "image/webp"
    width: int
    height: int


@dataclass(frozen=True)
class NormalizedImage:
    # Largest first: long edge <= IMAGE_EDGE_HIGH_RES, then one <= IMAGE_EDGE_STANDARD only when
    # the largest is bigger than that.
    variants: tuple[EncodedImage, ...]
    thumbnail: EncodedImage  # long edge <= THUMBNAIL_EDGE


def image_normalize_isolated(data: bytes, *, limits: ImageLimits | None = None) -> NormalizedImage:
    """`image_normalize` in a child process bounded by the settings' time and memory."""
    try:
        return run_isolated(
            _normalize_in_child,
            data,
            limits or ImageLimits.from_settings(),
            timeout=settings.CHATSITE_IMAGE_TIMEOUT_SECONDS,
            memory_bytes=settings.CHATSITE_IMAGE_MEMORY_BYTES,
            passthrough=(ImageRejected,),
        )
    except IsolatedFailure as error:
        raise ImageRejected(TOO_COMPLEX) from error


def _normalize_in_child(data: bytes, limits: ImageLimits) -> NormalizedImage:
    return image_normalize(data, limits=limits)


def image_normalize(data: bytes, *, limits: ImageLimits) -> NormalizedImage:
    """Decode `data` (untrusted) and re-encode it as sendable variants and a thumbnail.

    Raises ImageRejected for anything that is not a JPEG, PNG, GIF or WebP image within
    `limits`, or that does not decode completely.
    """
    if not data:
        raise ImageRejected(EMPTY)
    # Pillow's own decompression-bomb check warns before it refuses; both are refusals here.
    # (catch_warnings changes the process's filters: one more reason to run this in a child.)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            source = Image.open(io.BytesIO(data), formats=FORMATS)
            _check_pixels(source, limits)
            image, icc_profile, orientation = _load_first_frame(source)
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            raise ImageRejected(_too_many_pixels(limits)) from None
        except UnidentifiedImageError:
            damaged = data.startswith(SIGNATURES) or (data[:4], data[8:12]) == (b"RIFF", b"WEBP")
            raise ImageRejected(DAMAGED if damaged else NOT_AN_IMAGE) from None
        except DECODE_ERRORS:
            raise ImageRejected(DAMAGED) from None
    photo = source.format in ("JPEG", "MPO")

    image = _working_mode(image)
    image = _resize(image, _fit(image.size, IMAGE_EDGE_HIGH_RES))
    image = _to_srgb(image, icc_profile)
    if image.mode == "RGBA" and _alpha_is_opaque(image):
        image = image.convert("RGB")
    if orientation in ORIENTATIONS:
        image = image.transpose(ORIENTATIONS[orientation])

    kind = "alpha" if image.mode == "RGBA" else "photo" if photo else "graphic"
    with ThreadPoolExecutor(max_workers=2) as pool:
        # The smaller images follow from the largest image (never a second decode), not from
        # how it gets encoded: resized meanwhile. (`_resize` returns a small `image` as is.)
        standard = pool.submit(_resize, image, _fit(image.size, IMAGE_EDGE_STANDARD))
        thumbnail = pool.submit(_thumbnail, image)
        largest = _encode_fitting(image, kind)
        variants = [largest]
        if max(largest.width, largest.height) > IMAGE_EDGE_STANDARD:
            # In the format the largest got.
            kind = "photo" if largest.media_type == "image/jpeg" else kind
            variants.append(_encode_fitting(standard.result(), kind))
        return NormalizedImage(variants=tuple(variants), thumbnail=thumbnail.result())


def _too_many_pixels(limits: ImageLimits) -> str:
    megapixels = f"{limits.max_pixels / 1_000_000:g}"
    return f"This image is too large: images can have at most {megapixels} megapixels."


def _check_pixels(source: Image.Image, limits: ImageLimits) -> None:
    """Refuse from the header alone, before decoding anything."""
    width, height = source.size
    if width < 1 or height < 1:
        raise ImageRejected(DAMAGED)
    if width * height > limits.max_pixels:
        raise ImageRejected(_too_many_pixels(limits))
    # Animated GIF / WebP / PNG: every frame would be decoded by a viewer, so count them all.
    # (Counting GIF frames walks the file but decodes none.)
    frames = getattr(source, "n_frames", 1)
    if frames * width * height > limits.max_total_pixels:
        raise ImageRejected(TOO_MANY_FRAMES)


def _load_first_frame(source: Image.Image) -> tuple[Image.Image, bytes | None, int]:
    """Decode the first frame (the only one the API reads): (image, ICC profile, orientation)."""
    if getattr(source, "n_frames", 1) > 1:
        source.seek(0)
    target = _fit(source.size, IMAGE_EDGE_HIGH_RES)
    box = None
    if source.format in ("JPEG", "MPO") and target != source.size:
        # Let libjpeg decode at 1/2, 1/4 or 1/8 scale when that stays >= the target: much less
        # work than decoding every pixel. `box` is the original frame in draft coordinates.
        drafted = source.draft(None, target)
        box = drafted[1] if drafted else None
    source.load()  # a full decode: a truncated file raises here
    # Read after load(): for a PNG, reading EXIF would load (and fail) first.
    orientation = _orientation(source)
    icc_profile = source.info.get("icc_profile")
    if box is not None:
        return _resize(source, target, box=box), icc_profile, orientation
    return source, icc_profile, orientation


def _orientation(source: Image.Image) -> int:
    try:
        value = source.getexif().get(ExifTags.Base.Orientation, 1)
    except (*DECODE_ERRORS, KeyError, TypeError):  # unreadable EXIF: leave the image as stored
        return 1
    return value if isinstance(value, int) else 1


def _working_mode(image: Image.Image) -> Image.Image:
    """Bring any decoded mode to L, RGB, RGBA, or CMYK (kept for its colour profile)."""
    mode = image.mode
    if mode in ("RGBA", "CMYK") or (mode in ("L", "RGB") and not image.has_transparency_data):
        return image
    if mode.startswith("I"):  # 16-bit greyscale PNG: I;16 (or I)
        # Scale 0..65535 to 0..255 (rounded): convert("L") alone would clip everything to 255.
        return image.convert("I").point(lambda value: value * (255 / 65535) + 0.5).convert("L")
    if mode == "1":
        return image.convert("L")
    if mode == "LA" and _alpha_is_opaque(image):
        return image.convert("L")
    if image.has_transparency_data:  # P or L/RGB with a tRNS colour, LA, PA, La, RGBa
        return image.convert("RGBA")
    return image.convert("RGB")  # P, RGBX, YCbCr, LAB, ...


def _alpha_is_opaque(image: Image.Image) -> bool:
    minimum, _maximum = image.getchannel("A").getextrema()
    return bool(minimum == 255)


@functools.cache
def _srgb_profile() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _to_srgb(image: Image.Image, icc_profile: bytes | None) -> Image.Image:
    """Convert colour to sRGB (what the API and browsers assume) through the embedded profile,
    if any; CMYK always ends as RGB. Greyscale keeps its values (its profile is only dropped)."""
    if icc_profile and image.mode in ("RGB", "RGBA", "CMYK"):
        try:
            profile = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
            # Most photos already are sRGB: skip the (costly) identity transform.
            if image.mode == "CMYK" or "sRGB" not in ImageCms.getProfileDescription(profile):
                alpha = image.getchannel("A") if image.mode == "RGBA" else None
                colour = image.convert("RGB") if alpha is not None else image
                converted = ImageCms.profileToProfile(
                    colour, profile, _srgb_profile(), outputMode="RGB"
                )
                if converted is not None:
                    if alpha is not None:
                        converted.putalpha(alpha)
                    image = converted
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError) as error:
            # A broken or mismatched profile: the pixels are still usable as they are.
            logger.info("Ignoring an unusable colour profile: %s", error)
    return image.convert("RGB") if image.mode == "CMYK" else image


def _fit(size: tuple[int, int], edge: int) -> tuple[int, int]:
    """`size` scaled down so that its long side is `edge` (never up); short side rounded half
    up, at least 1."""
    width, height = size
    long_side = max(width, height)
    if long_side <= edge:
        return size

    def scaled(side: int) -> int:
        return max(1, (2 * side * edge + long_side) // (2 * long_side))

    return scaled(width), scaled(height)


def _resize(
    image: Image.Image,
    size: tuple[int, int],
    *,
    box: tuple[float, float, float, float] | None = None,
    reducing_gap: float = REDUCING_GAP,
) -> Image.Image:
    """`image` (or its `box` region) resampled to `size`; in parallel bands when the result is
    large."""
    if size == image.size and box is None:
        return image
    width, height = size
    bands = min(RESIZE_BANDS, width)
    if width * height < BANDED_RESIZE_MIN_PIXELS or bands < 2:
        return image.resize(size, RESAMPLE, box, reducing_gap)
    # Pillow premultiplies alpha before resampling: do it once here, not once per band.
    source = image.convert("RGBa") if image.mode == "RGBA" else image
    left, upper, right, lower = box or (0, 0, source.width, source.height)
    scale = (right - left) / width
    lefts = [width * band // bands for band in range(bands + 1)]

    def resize_band(band: int) -> Image.Image:
        # A band computed from its `box` in the source is that part of a whole resize, to
        # rounding (a pixel may differ by 1 or 2).
        start, end = lefts[band], lefts[band + 1]
        band_box = (left + start * scale, upper, left + end * scale, lower)
        return source.resize((end - start, height), RESAMPLE, band_box, reducing_gap)

    with ThreadPoolExecutor(max_workers=bands - 1) as pool:
        others = [pool.submit(resize_band, band) for band in range(1, bands)]
        pieces = [resize_band(0), *(future.result() for future in others)]
    resized = Image.new(source.mode, size)
    for start, piece in zip(lefts, pieces, strict=False):
        resized.paste(piece, (start, 0))
    return resized.convert("RGBA") if image.mode == "RGBA" else resized


def _encode_fitting(image: Image.Image, kind: str) -> EncodedImage:
    """Encode `image` as `kind` says, lowering the quality, then the size, until it fits the
    API's limit. `kind`: "photo" (JPEG), "graphic" (PNG, JPEG if it is a photo), "alpha"."""
    while True:
        for media_type, data in _candidates(image, kind):
            if len(data) <= MAX_ENCODED_BYTES:
                return EncodedImage(
                    data=data, media_type=media_type, width=image.width, height=image.height
                )
        smaller = (
            max(1, image.width * SHRINK_NUMERATOR // SHRINK_DENOMINATOR),
            max(1, image.height * SHRINK_NUMERATOR // SHRINK_DENOMINATOR),
        )
        image = _resize(image, smaller)


def _candidates(image: Image.Image, kind: str) -> Iterator[tuple[str, bytes]]:
    """Encodings of `image`, best first; computed one at a time, only as far as needed."""
    jpegs = (("image/jpeg", _jpeg(image, quality)) for quality in JPEG_QUALITIES)
    if kind == "photo":
        yield from jpegs
        return
    png = _save(image, "PNG")
    if kind == "alpha":
        if len(png) <= MAX_PNG_WITH_ALPHA_BYTES:
            yield "image/png", png
        for quality in WEBP_QUALITIES:
            yield "image/webp", _save(image, "WEBP", quality=quality, alpha_quality=quality)
        return
    if len(png) > PHOTO_AS_PNG_BYTES:
        media_type, jpeg = next(jpegs)
        if 2 * len(jpeg) < len(png):
            yield media_type, jpeg
            yield from jpegs
            return
    yield "image/png", png
    yield from jpegs


def _jpeg(image: Image.Image, quality: int) -> bytes:
    # Not optimize=True: its extra pass doubles the encoding time (18 -> 40 ms at 2576 px) for
    # a file ~10% smaller, and the size limit is enforced either way.
    return _save(image, "JPEG", quality=quality)


def _save(image: Image.Image, format_name: str, **options: object) -> bytes:
    # Pillow copies some of `info` (ICC profile, EXIF, comments) into what it saves: empty it,
    # and pass no metadata option, so that only pixels are written.
    image.info = {}
    buffer = io.BytesIO()
    image.save(buffer, format_name, **options)
    return buffer.getvalue()


def _thumbnail(image: Image.Image) -> EncodedImage:
    thumbnail = _resize(
        image, _fit(image.size, THUMBNAIL_EDGE), reducing_gap=THUMBNAIL_REDUCING_GAP
    )
    if thumbnail.mode == "RGBA":
        data, media_type = _save(thumbnail, "PNG"), "image/png"
    else:
        data, media_type = _save(thumbnail, "JPEG", quality=THUMBNAIL_QUALITY), "image/jpeg"
    return EncodedImage(
        data=data, media_type=media_type, width=thumbnail.width, height=thumbnail.height
    )
