"""The image pipeline against hostile and unusual files, and the child process that runs it.

Every file is generated here (Pillow or raw bytes): no binary fixture.
"""

from __future__ import annotations

import asyncio
import io
import os
import struct
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from PIL import ExifTags, Image, ImageChops, ImageCms, PngImagePlugin

from conversations.services import images
from conversations.services.images import (
    DAMAGED,
    EMPTY,
    MAX_ENCODED_BYTES,
    NOT_AN_IMAGE,
    TOO_COMPLEX,
    TOO_MANY_FRAMES,
    EncodedImage,
    ImageLimits,
    ImageRejected,
    NormalizedImage,
    image_normalize,
    image_normalize_isolated,
)
from conversations.services.isolation import IsolatedFailure, run_isolated

LIMITS = ImageLimits(max_pixels=50_000_000, max_total_pixels=200_000_000)
TOO_MANY_PIXELS = "This image is too large: images can have at most 50 megapixels."
MEDIA_TYPES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)
GIB = 1024**3


def encode(image: Image.Image, format_name: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format_name, **options)
    return buffer.getvalue()


def reopen(encoded: EncodedImage) -> Image.Image:
    """The encoded bytes decode completely, as what they claim to be, at the stated size."""
    image = Image.open(io.BytesIO(encoded.data))
    image.load()
    assert image.format == MEDIA_TYPES[encoded.media_type]
    assert image.size == (encoded.width, encoded.height)
    return image


def outputs(result: NormalizedImage) -> list[EncodedImage]:
    return [*result.variants, result.thumbnail]


def sizes(result: NormalizedImage) -> list[tuple[int, int]]:
    return [(variant.width, variant.height) for variant in result.variants]


def assert_rejected(data: bytes, message: str, limits: ImageLimits = LIMITS) -> None:
    with pytest.raises(ImageRejected) as raised:
        image_normalize(data, limits=limits)
    assert raised.value.message == message


def close(pixel: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, expected, strict=True))


def noise(mode: str, size: tuple[int, int]) -> Image.Image:
    bands = len(mode)
    return Image.frombytes(mode, size, os.urandom(size[0] * size[1] * bands))


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_declaring(width: int, height: int) -> bytes:
    """A tiny valid-looking PNG whose header (with a correct CRC) declares width x height."""
    small = encode(Image.new("1", (8, 8)), "PNG")
    ihdr = struct.pack(">II", width, height) + small[24:29]  # bit depth, colour type, ...
    return small[:8] + png_chunk(b"IHDR", ihdr) + small[33:]


# --- What is not an image, or not one of ours -------------------------------------------------


def test_empty_file_is_rejected() -> None:
    assert_rejected(b"", EMPTY)


@pytest.mark.parametrize(
    "data",
    [
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
        b"<script>alert(1)</script></svg>",
        b"<html><body><script>alert(document.cookie)</script></body></html>",  # "photo.png"
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n",
        b"\x00" * 64,
    ],
    ids=["svg", "html-renamed-png", "pdf", "zeros"],
)
def test_non_images_are_rejected(data: bytes) -> None:
    assert_rejected(data, NOT_AN_IMAGE)


@pytest.mark.parametrize("format_name", ["BMP", "TIFF", "PPM", "ICO", "PCX"])
def test_images_in_other_formats_are_rejected(format_name: str) -> None:
    assert_rejected(encode(Image.new("RGB", (16, 16), RED), format_name), NOT_AN_IMAGE)


def test_png_with_html_appended_is_stored_as_a_clean_re_encode() -> None:
    source = Image.new("RGB", (40, 30), BLUE)
    data = encode(source, "PNG") + b"<html><script>alert(1)</script></html>"

    result = image_normalize(data, limits=LIMITS)

    assert sizes(result) == [(40, 30)]
    for encoded in outputs(result):
        assert b"<script" not in encoded.data
        assert b"<html" not in encoded.data
        reopen(encoded)
    assert reopen(result.variants[0]).convert("RGB").getpixel((20, 15)) == BLUE


@pytest.mark.parametrize("format_name", ["JPEG", "PNG", "GIF", "WEBP"])
@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_truncated_files_are_rejected(format_name: str, keep: float) -> None:
    data = encode(noise("RGB", (200, 200)), format_name)
    assert_rejected(data[: int(len(data) * keep)], DAMAGED)


@pytest.mark.parametrize("format_name", ["JPEG", "PNG", "GIF"])
def test_a_file_cut_inside_its_header_is_damaged_not_foreign(format_name: str) -> None:
    data = encode(Image.new("RGB", (20, 20)), format_name)
    assert_rejected(data[:12], DAMAGED)


# --- Pixel bombs: refused from the header, before decoding ------------------------------------


@pytest.mark.parametrize(
    ("width", "height"),
    [(20_000, 20_000), (100_000, 100_000), (10_000, 5_001), (2**31 - 1, 1)],
    ids=["above-pillow-limit", "huge", "just-above-ours", "one-wide-line"],
)
def test_png_declaring_too_many_pixels_is_rejected_without_decoding(
    width: int, height: int
) -> None:
    data = png_declaring(width, height)
    assert len(data) < 100

    started = time.perf_counter()
    assert_rejected(data, TOO_MANY_PIXELS)
    assert time.perf_counter() - started < 0.5


def test_a_tiny_gif_declaring_a_huge_screen_is_rejected() -> None:
    screen = struct.pack("<HHBBB", 65_535, 65_535, 0, 0, 0)
    descriptor = b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"
    data = b"GIF89a" + screen + descriptor + b"\x3b"

    assert len(data) < 40
    assert_rejected(data, TOO_MANY_PIXELS)


def test_limit_on_pixels_per_frame_comes_from_the_limits_passed() -> None:
    data = encode(Image.new("RGB", (100, 100)), "PNG")
    limits = ImageLimits(max_pixels=9_999, max_total_pixels=10**9)

    assert_rejected(
        data, "This image is too large: images can have at most 0.009999 megapixels.", limits
    )
    assert image_normalize(data, limits=ImageLimits(max_pixels=10_000, max_total_pixels=10_000))


@pytest.mark.parametrize(
    ("kind", "prefix"),
    [(b"zTXt", b"Comment\0\0"), (b"iTXt", b"Comment\0\1\0\0\0"), (b"iCCP", b"icc\0\0")],
)
def test_png_metadata_chunk_inflating_to_20_mb_is_rejected(kind: bytes, prefix: bytes) -> None:
    small = encode(Image.new("RGB", (8, 8)), "PNG")
    bomb = zlib.compress(b"\0" * 20_000_000, 9)  # 20 kB
    data = small[:33] + png_chunk(kind, prefix + bomb) + small[33:]
    assert len(data) < 25_000
    assert_rejected(data, DAMAGED)


def gif_with_frames(frames: int, screen: tuple[int, int]) -> bytes:
    """An animated GIF of `frames` 1x1 frames on a `screen`-sized canvas, built byte by byte."""
    one_pixel = encode(Image.new("P", (1, 1)), "GIF")
    descriptor = b"\x2c" + struct.pack("<HHHH", 0, 0, 1, 1)
    frame = one_pixel[one_pixel.index(descriptor) : -1]  # image descriptor + LZW data
    header = b"GIF89a" + struct.pack("<HHBBB", *screen, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    return header + frame * frames + b"\x3b"


def test_many_frame_gif_bomb_is_rejected() -> None:
    data = gif_with_frames(2_000, (500, 500))  # 500 megapixels to decode, in ~30 kB
    assert len(data) < 40_000

    started = time.perf_counter()
    assert_rejected(data, TOO_MANY_FRAMES)
    assert time.perf_counter() - started < 2


def test_frames_are_counted_against_the_total_limit() -> None:
    data = gif_with_frames(10, (100, 100))
    assert_rejected(data, TOO_MANY_FRAMES, ImageLimits(max_pixels=10**6, max_total_pixels=99_999))
    assert image_normalize(data, limits=ImageLimits(max_pixels=10**6, max_total_pixels=100_000))


# --- Colour and modes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cmyk", "rgb"),
    [((0, 255, 255, 0), RED), ((255, 0, 255, 0), GREEN), ((0, 0, 0, 128), (127, 127, 127))],
)
def test_cmyk_jpeg_keeps_its_colour(cmyk: tuple[int, ...], rgb: tuple[int, ...]) -> None:
    # Pillow writes CMYK JPEGs inverted with an Adobe marker, as Photoshop does.
    data = encode(Image.new("CMYK", (64, 64), cmyk), "JPEG", quality=95)

    variant = image_normalize(data, limits=LIMITS).variants[0]

    assert variant.media_type == "image/jpeg"
    image = reopen(variant)
    assert image.mode == "RGB"
    assert close(image.getpixel((32, 32)), rgb)


def test_16_bit_greyscale_png_is_scaled_to_8_bits_not_clipped() -> None:
    source = Image.new("I;16", (3, 1))
    source.putpixel((0, 0), 0)
    source.putpixel((1, 0), 32_768)
    source.putpixel((2, 0), 65_535)
    data = encode(source, "PNG")
    assert Image.open(io.BytesIO(data)).mode == "I;16"

    variant = image_normalize(data, limits=LIMITS).variants[0]

    image = reopen(variant)
    assert (variant.media_type, image.mode) == ("image/png", "L")
    assert [image.getpixel((x, 0)) for x in range(3)] == [0, 128, 255]


def palette_image(*, transparent_index: int | None) -> bytes:
    image = Image.new("P", (10, 10), 0)
    image.putpalette([*RED, *GREEN, *BLUE])
    image.putpixel((0, 0), 1)
    options = {} if transparent_index is None else {"transparency": transparent_index}
    return encode(image, "PNG", **options)


def test_palette_png_without_transparency_becomes_rgb() -> None:
    image = reopen(
        image_normalize(palette_image(transparent_index=None), limits=LIMITS).variants[0]
    )
    assert image.mode == "RGB"
    assert (image.getpixel((0, 0)), image.getpixel((5, 5))) == (GREEN, RED)


def test_palette_png_with_transparency_becomes_rgba() -> None:
    variant = image_normalize(palette_image(transparent_index=1), limits=LIMITS).variants[0]

    image = reopen(variant)
    assert (variant.media_type, image.mode) == ("image/png", "RGBA")
    assert image.getpixel((0, 0))[3] == 0
    assert image.getpixel((5, 5)) == (*RED, 255)


def test_palette_png_declaring_an_unused_transparent_colour_keeps_no_alpha() -> None:
    image = reopen(image_normalize(palette_image(transparent_index=2), limits=LIMITS).variants[0])
    assert image.mode == "RGB"


def test_rgba_with_real_transparency_stays_png_with_its_alpha() -> None:
    source = Image.new("RGBA", (50, 40), (*RED, 255))
    source.putpixel((0, 0), (*BLUE, 0))
    source.putpixel((1, 0), (*GREEN, 128))

    result = image_normalize(encode(source, "PNG"), limits=LIMITS)

    image = reopen(result.variants[0])
    assert (result.variants[0].media_type, image.mode) == ("image/png", "RGBA")
    assert image.getpixel((0, 0))[3] == 0
    assert image.getpixel((1, 0)) == (*GREEN, 128)
    assert image.getpixel((25, 20)) == (*RED, 255)
    assert result.thumbnail.media_type == "image/png"


def test_fully_opaque_rgba_drops_the_useless_alpha() -> None:
    source = Image.new("RGBA", (50, 40), (*RED, 255))
    result = image_normalize(encode(source, "PNG"), limits=LIMITS)

    assert reopen(result.variants[0]).mode == "RGB"
    assert result.thumbnail.media_type == "image/jpeg"


@pytest.mark.parametrize(("alpha", "mode"), [(100, "RGBA"), (255, "L")])
def test_greyscale_with_alpha(alpha: int, mode: str) -> None:
    source = Image.new("LA", (20, 20), (90, 255))
    source.putpixel((3, 3), (90, alpha))

    image = reopen(image_normalize(encode(source, "PNG"), limits=LIMITS).variants[0])

    assert image.mode == mode
    assert image.getpixel((3, 3)) == ((90, 90, 90, alpha) if mode == "RGBA" else 90)


def s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65_536))


def rgb_profile(description: str, primaries: list[tuple[float, float, float]]) -> bytes:
    """A minimal ICC v2 RGB display profile (matrix + gamma 2.2), assembled by hand."""
    text = description.encode() + b"\x00"
    desc = b"desc\x00\x00\x00\x00" + struct.pack(">I", len(text)) + text
    desc += struct.pack(">IIHB", 0, 0, 0, 0) + b"\x00" * 67
    d50 = (0.9642, 1.0, 0.8249)
    curve = b"curv\x00\x00\x00\x00" + struct.pack(">IH", 1, round(2.2 * 256)) + b"\x00\x00"
    tags = [(b"desc", desc), (b"wtpt", b"XYZ \x00\x00\x00\x00" + b"".join(map(s15, d50)))]
    for name, xyz in zip((b"rXYZ", b"gXYZ", b"bXYZ"), primaries, strict=True):
        tags.append((name, b"XYZ \x00\x00\x00\x00" + b"".join(map(s15, xyz))))
    tags += [(name, curve) for name in (b"rTRC", b"gTRC", b"bTRC")]
    offset = 128 + 4 + 12 * len(tags)
    table, body = struct.pack(">I", len(tags)), b""
    for name, data in tags:
        data += b"\x00" * (-len(data) % 4)
        table += name + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = struct.pack(">I4sI4s4s4s", size, b"\x00" * 4, 0x02100000, b"mntr", b"RGB ", b"XYZ ")
    header += b"\x00" * 12 + b"acsp" + b"\x00" * 28 + b"".join(map(s15, d50)) + b"\x00" * 48
    return header + table + body


SRGB_RED, SRGB_GREEN, SRGB_BLUE = (
    (0.4361, 0.2225, 0.0139),
    (0.3851, 0.7169, 0.0971),
    (
        0.1431,
        0.0606,
        0.7141,
    ),
)
# A profile that says the first channel is green and the second red: conversion must swap them.
SWAPPED = rgb_profile("Swapped primaries", [SRGB_GREEN, SRGB_RED, SRGB_BLUE])


def red_green(mode: str) -> Image.Image:
    image = Image.new(mode, (20, 10), RED if mode == "RGB" else (*RED, 200))
    image.paste(GREEN if mode == "RGB" else (*GREEN, 200), (10, 0, 20, 10))
    return image


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_embedded_colour_profile_is_converted_to_srgb(mode: str) -> None:
    assert ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(SWAPPED)))

    variant = image_normalize(
        encode(red_green(mode), "PNG", icc_profile=SWAPPED), limits=LIMITS
    ).variants[0]

    image = reopen(variant)
    assert "icc_profile" not in image.info
    assert image.mode == mode
    # What the file called red is the colour sRGB calls green, and the other way round.
    left, right = image.getpixel((2, 5)), image.getpixel((17, 5))
    assert close(left[:3], GREEN, 2)
    assert close(right[:3], RED, 2)
    if mode == "RGBA":
        assert (left[3], right[3]) == (200, 200)


def test_unusable_colour_profile_is_dropped_and_pixels_kept() -> None:
    lab = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    data = encode(red_green("RGB"), "PNG", icc_profile=lab)

    image = reopen(image_normalize(data, limits=LIMITS).variants[0])

    assert "icc_profile" not in image.info
    assert (image.getpixel((2, 5)), image.getpixel((17, 5))) == (RED, GREEN)


# --- Orientation and metadata -------------------------------------------------------------------

SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf'
    b'-syntax-ns#"><rdf:Description>SecretXmpValue</rdf:Description></rdf:RDF></x:xmpmeta>'
)
SECRETS = (b"SecretCam", b"SecretXmpValue", b"SecretComment", b"Exif\x00\x00", b"ICC_PROFILE")


def exif_with_gps(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Make] = "SecretCam"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (48.0, 51.0, 24.0)
    return exif


def assert_no_metadata(encoded: EncodedImage) -> None:
    image = reopen(encoded)
    assert not set(image.info) & {"exif", "icc_profile", "xmp", "XML:com.adobe.xmp", "comment"}
    assert not [key for key in image.info if key.lower().startswith(("comment", "raw profile"))]
    assert len(image.getexif()) == 0
    for secret in SECRETS:
        assert secret not in encoded.data


def test_exif_orientation_is_applied_and_all_metadata_dropped() -> None:
    stored = Image.new("RGB", (400, 200), BLUE)
    stored.paste(RED, (0, 0, 60, 60))  # stored top-left: shown top-right once upright
    data = encode(
        stored,
        "JPEG",
        exif=exif_with_gps(6),
        xmp=XMP,
        comment=b"SecretComment",
        icc_profile=SRGB_ICC,
    )
    source = Image.open(io.BytesIO(data))
    assert source.getexif().get_ifd(ExifTags.IFD.GPSInfo)  # the GPS data was there
    assert all(secret in data for secret in SECRETS)

    result = image_normalize(data, limits=LIMITS)

    assert sizes(result) == [(200, 400)]
    assert (result.thumbnail.width, result.thumbnail.height) == (160, 320)
    image = reopen(result.variants[0])
    assert close(image.getpixel((190, 10)), RED, 30)
    for corner in [(10, 10), (10, 390), (190, 390)]:
        assert close(image.getpixel(corner), BLUE, 30)
    for encoded in outputs(result):
        assert_no_metadata(encoded)


def test_png_text_chunks_exif_and_profile_are_dropped() -> None:
    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "SecretComment")
    text.add_itxt("XML:com.adobe.xmp", XMP.decode())
    data = encode(
        Image.new("RGB", (30, 30), GREEN),
        "PNG",
        pnginfo=text,
        exif=exif_with_gps(1),
        icc_profile=SRGB_ICC,
    )
    assert all(secret in data for secret in (b"SecretCam", b"SecretXmpValue", b"SecretComment"))

    for encoded in outputs(image_normalize(data, limits=LIMITS)):
        assert_no_metadata(encoded)


# --- Sizes, formats, frames ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "expected", "thumbnail"),
    [
        ((5000, 3000), [(2576, 1546), (1568, 941)], (320, 192)),
        ((3000, 5000), [(1546, 2576), (941, 1568)], (192, 320)),
        ((2000, 1000), [(2000, 1000), (1568, 784)], (320, 160)),
        ((1568, 1000), [(1568, 1000)], (320, 204)),
        ((800, 600), [(800, 600)], (320, 240)),
        ((100, 1), [(100, 1)], (100, 1)),
        ((5000, 1), [(2576, 1), (1568, 1)], (320, 1)),
    ],
)
def test_variant_sizes(
    size: tuple[int, int], expected: list[tuple[int, int]], thumbnail: tuple[int, int]
) -> None:
    source = Image.linear_gradient("L").resize(size).convert("RGB")

    result = image_normalize(encode(source, "JPEG", quality=80), limits=LIMITS)

    assert sizes(result) == expected
    assert (result.thumbnail.width, result.thumbnail.height) == thumbnail
    assert [variant.media_type for variant in result.variants] == ["image/jpeg"] * len(expected)
    for encoded in outputs(result):
        reopen(encoded)


def test_large_resize_in_bands_equals_one_resize() -> None:
    source = noise("RGB", (1800, 1300))
    whole = source.resize((1500, 1083), images.RESAMPLE, reducing_gap=images.REDUCING_GAP)
    banded = images._resize(source, (1500, 1083))
    assert banded.size == whole.size
    # Each band's coefficients come from its own box: equal up to rounding, even on noise.
    assert max(hi for _lo, hi in ImageChops.difference(banded, whole).getextrema()) <= 2


def test_animated_gif_keeps_its_first_frame() -> None:
    frames = [Image.new("RGB", (64, 48), colour) for colour in (RED, GREEN, BLUE)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    assert Image.open(io.BytesIO(data)).n_frames == 3

    variant = image_normalize(data, limits=LIMITS).variants[0]

    image = reopen(variant)
    assert (variant.media_type, image.size) == ("image/png", (64, 48))
    assert image.convert("RGB").getpixel((32, 24)) == RED


def test_webp_is_accepted() -> None:
    data = encode(Image.new("RGB", (300, 200), GREEN), "WEBP", quality=90)
    result = image_normalize(data, limits=LIMITS)

    assert sizes(result) == [(300, 200)]
    assert close(reopen(result.variants[0]).convert("RGB").getpixel((150, 100)), GREEN)


def test_webp_with_transparency_becomes_png_with_alpha() -> None:
    source = Image.new("RGBA", (30, 30), (*BLUE, 255))
    source.paste((0, 0, 0, 0), (0, 0, 10, 10))
    variant = image_normalize(encode(source, "WEBP", lossless=True), limits=LIMITS).variants[0]

    image = reopen(variant)
    assert (variant.media_type, image.mode) == ("image/png", "RGBA")
    assert image.getpixel((5, 5))[3] == 0


def test_photo_saved_as_png_is_sent_as_jpeg_and_a_drawing_stays_png() -> None:
    photo = Image.linear_gradient("L").resize((1200, 1000)).convert("RGB")
    photo = Image.blend(photo, noise("RGB", (1200, 1000)), 0.2)
    drawing = Image.new("RGB", (1200, 1000), "white")
    drawing.paste(RED, (100, 100, 300, 300))

    photo_variant = image_normalize(encode(photo, "PNG"), limits=LIMITS).variants[0]
    drawing_variant = image_normalize(encode(drawing, "PNG"), limits=LIMITS).variants[0]

    assert photo_variant.media_type == "image/jpeg"
    assert drawing_variant.media_type == "image/png"


def test_worst_case_noise_fits_the_api_limit() -> None:
    data = encode(noise("RGB", (2576, 2576)), "PNG", compress_level=1)
    assert len(data) > MAX_ENCODED_BYTES

    result = image_normalize(data, limits=LIMITS)

    assert [variant.media_type for variant in result.variants] == ["image/jpeg"] * 2
    assert sizes(result) == [(2576, 2576), (1568, 1568)]
    for encoded in outputs(result):
        assert len(encoded.data) <= MAX_ENCODED_BYTES
        reopen(encoded)


def test_worst_case_transparent_noise_fits_the_api_limit() -> None:
    data = encode(noise("RGBA", (1200, 1200)), "PNG", compress_level=1)
    assert len(data) > images.MAX_PNG_WITH_ALPHA_BYTES

    result = image_normalize(data, limits=LIMITS)

    assert [variant.media_type for variant in result.variants] == ["image/webp"]
    assert sizes(result) == [(1200, 1200)]
    for encoded in outputs(result):
        assert len(encoded.data) <= MAX_ENCODED_BYTES
        assert reopen(encoded).mode == "RGBA"


@hypothesis_settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    format_name=st.sampled_from(["JPEG", "PNG", "GIF", "WEBP"]),
    edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=8),
    cut=st.integers(0, 10_000),
)
def test_corrupted_files_are_rejected_cleanly_or_re_encoded(
    format_name: str, edits: list[tuple[int, int]], cut: int
) -> None:
    """Flipped bytes and cuts anywhere: an ImageRejected, or a valid re-encode, nothing else."""
    data = bytearray(
        encode(Image.linear_gradient("L").resize((64, 48)).convert("RGB"), format_name)
    )
    for position, value in edits:
        data[position % len(data)] = value
    data = data[: len(data) - cut % len(data)]
    try:
        result = image_normalize(bytes(data), limits=LIMITS)
    except ImageRejected as rejected:
        message = rejected.message
    else:
        message = None
        for encoded in outputs(result):
            reopen(encoded)
    assert message in {None, NOT_AN_IMAGE, DAMAGED, TOO_MANY_PIXELS, TOO_MANY_FRAMES}


# --- Running in a child process -----------------------------------------------------------------


def test_limits_come_from_settings(settings) -> None:
    settings.CHATSITE_IMAGE_MAX_PIXELS = 123
    settings.CHATSITE_IMAGE_MAX_TOTAL_PIXELS = 456
    assert ImageLimits.from_settings() == ImageLimits(max_pixels=123, max_total_pixels=456)


def test_isolated_normalization_gives_the_same_result() -> None:
    data = encode(Image.linear_gradient("L").resize((1800, 900)).convert("RGB"), "JPEG")
    assert image_normalize_isolated(data, limits=LIMITS) == image_normalize(data, limits=LIMITS)


def test_isolated_rejection_keeps_its_message() -> None:
    with pytest.raises(ImageRejected) as raised:
        image_normalize_isolated(b"<svg/>", limits=LIMITS)
    assert raised.value.message == NOT_AN_IMAGE


def test_isolated_child_out_of_memory_is_rejected_as_too_complex(settings) -> None:
    settings.CHATSITE_IMAGE_MEMORY_BYTES = 64 * 1024**2
    data = encode(Image.new("RGB", (4000, 4000), RED), "PNG")

    with pytest.raises(ImageRejected) as raised:
        image_normalize_isolated(data, limits=LIMITS)
    assert raised.value.message == TOO_COMPLEX


def test_run_isolated_returns_the_result() -> None:
    assert run_isolated(pow, 2, 10, timeout=10, memory_bytes=GIB) == 1024


def test_run_isolated_kills_a_child_past_its_timeout() -> None:
    started = time.perf_counter()
    with pytest.raises(IsolatedFailure):
        run_isolated(time.sleep, 60, timeout=0.5, memory_bytes=GIB)
    assert time.perf_counter() - started < 3


def test_run_isolated_bounds_memory() -> None:
    with pytest.raises(IsolatedFailure):
        run_isolated(bytearray, 2 * GIB, timeout=10, memory_bytes=GIB // 2)
    assert len(run_isolated(bytearray, GIB // 16, timeout=10, memory_bytes=GIB)) == GIB // 16


@pytest.mark.parametrize(
    ("function", "args"),
    [(os._exit, (3,)), (os.abort, ()), (int, ("x",))],
    ids=["exit", "abort", "exception"],
)
def test_run_isolated_turns_crashes_and_errors_into_isolated_failure(function, args) -> None:
    with pytest.raises(IsolatedFailure):
        run_isolated(function, *args, timeout=10, memory_bytes=GIB)


def test_run_isolated_passes_expected_exceptions_through() -> None:
    with pytest.raises(ValueError, match="invalid literal"):
        run_isolated(int, "x", timeout=10, memory_bytes=GIB, passthrough=(ValueError,))


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (the children run under the fork server), zombies included."""
    parents: dict[int, list[int]] = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                # "pid (name) state ppid ...": the name may hold spaces and parentheses.
                parent = int(stat.read().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):  # not a process, or gone meanwhile
            continue
        parents.setdefault(parent, []).append(int(entry))
    found, queue = [], [pid]
    while queue:
        children = parents.get(queue.pop(), [])
        found += children
        queue += children
    return sorted(found)


def test_run_isolated_leaks_no_file_descriptor_or_process() -> None:
    run_isolated(abs, -1, timeout=10, memory_bytes=GIB)  # the fork server is up
    fds, processes = len(os.listdir("/proc/self/fd")), descendants(os.getpid())

    for number in range(30):
        assert run_isolated(abs, -number, timeout=10, memory_bytes=GIB) == number
    with pytest.raises(IsolatedFailure):
        run_isolated(time.sleep, 60, timeout=0.05, memory_bytes=GIB)

    assert len(os.listdir("/proc/self/fd")) == fds
    assert descendants(os.getpid()) == processes


def test_run_isolated_works_from_threads() -> None:
    data = encode(Image.new("RGB", (300, 200), RED), "PNG")

    def total(n: int) -> int:
        return run_isolated(sum, range(n), timeout=10, memory_bytes=GIB)

    with ThreadPoolExecutor(max_workers=4) as pool:
        sums = list(pool.map(total, range(8)))
        normalized = pool.submit(image_normalize_isolated, data, limits=LIMITS).result()
    assert sums == [sum(range(n)) for n in range(8)]
    assert sizes(normalized) == [(300, 200)]


def test_isolated_normalization_from_asyncio_to_thread() -> None:
    """How the async upload view calls it."""
    data = encode(Image.new("RGB", (300, 200), RED), "PNG")

    async def upload() -> NormalizedImage:
        return await asyncio.to_thread(image_normalize_isolated, data, limits=LIMITS)

    assert sizes(asyncio.run(upload())) == [(300, 200)]
