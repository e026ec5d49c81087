import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from grid import services
from grid.models import GridNode
from grid.uploads import check_image
from tests.support import image

WHITE = {"size": (10, 10), "colour": "white"}


def test_a_small_png_passes():
    f = image("plan.png", **WHITE)
    assert check_image(f) is f
    assert f.tell() == 0  # left ready to be stored


def test_not_an_image_is_refused():
    with pytest.raises(ValidationError) as e:
        check_image(SimpleUploadedFile("plan.png", b"%PDF-1.4 not an image"))
    assert e.value.code == "type"


def test_a_gif_is_refused_by_type():
    with pytest.raises(ValidationError) as e:
        check_image(image("plan.gif", fmt="GIF", **WHITE))
    assert e.value.code == "type"


def test_too_many_pixels(settings):
    settings.UPLOAD_MAX_PIXELS = 50 * 50
    with pytest.raises(ValidationError) as e:
        check_image(image("plan.png", size=(60, 60), colour="white"))
    assert e.value.code == "pixels"


def test_too_large(settings):
    settings.UPLOAD_MAX_BYTES = 10
    with pytest.raises(ValidationError) as e:
        check_image(image("plan.png", **WHITE))
    assert e.value.code == "size"


@pytest.mark.django_db
@pytest.mark.parametrize("boundary,ok", [
    ({"type": "Polygon", "coordinates": [[[103.5, 30.58], [103.52, 30.58], [103.52, 30.6], [103.5, 30.58]]]}, True),
    ({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": []}, "properties": {}}, True),
    ({"type": "Point", "coordinates": [103.5, 30.58]}, False),
    ({"type": "Polygon"}, False),
    ([1, 2, 3], False),
])
def test_boundary_must_be_geojson(world, boundary, ok):
    if ok:
        services.node_update(node=world.a.compound, boundary=boundary)
        assert GridNode.objects.get(pk=world.a.compound.pk).boundary == boundary
    else:
        with pytest.raises(ValidationError) as e:
            services.node_update(node=world.a.compound, boundary=boundary)
        assert "boundary" in e.value.message_dict
        assert GridNode.objects.get(pk=world.a.compound.pk).boundary is None
