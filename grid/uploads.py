"""Checks every uploaded image passes before it is stored: type, size and pixel count."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from PIL import Image, UnidentifiedImageError

ALLOWED_FORMATS = {"JPEG", "PNG", "WEBP"}


def check_image(upload):
    if upload.size > settings.UPLOAD_MAX_BYTES:
        raise ValidationError(
            _("The image is larger than %(mb)d MB.") % {"mb": settings.UPLOAD_MAX_BYTES // (1024 * 1024)},
            code="size",
        )
    try:
        upload.seek(0)
        with Image.open(upload) as img:
            fmt, (width, height) = img.format, img.size
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise ValidationError(_("The file is not a JPEG, PNG or WebP image."), code="type")
    finally:
        upload.seek(0)
    if fmt not in ALLOWED_FORMATS:
        raise ValidationError(_("The file is not a JPEG, PNG or WebP image."), code="type")
    if width * height > settings.UPLOAD_MAX_PIXELS:
        raise ValidationError(_("The image has too many pixels (%(n)d million at most).")
                              % {"n": settings.UPLOAD_MAX_PIXELS // 1_000_000}, code="pixels")
    return upload
