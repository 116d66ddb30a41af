"""The filename parser recognises every jwql name pattern, in jwql's order, and rejects the rest."""

from __future__ import annotations

import pytest

from jwql_dagster.archive.layout import INSTRUMENTS
from jwql_dagster.archive.filenames import (
    FILE_SUFFIX_TYPES,
    FILENAME_TYPES,
    IGNORED_SUFFIXES,
    PARSED_KEYS,
    UnrecognizedFilenameError,
    is_ignored,
    parse_filename,
    quick_classify,
)

# name -> (filename_type, instrument, suffix, detector, file_root, group_root, extra fields)
S12 = "stage_1_and_2"
GOOD: list[tuple[str, str, str, str | None, str, str, str, dict]] = [
    # stage 1 and 2, every instrument and detector family
    ("jw01068001001_02102_00001_nrcb1_rate.fits", S12, "nircam", "rate", "nrcb1",
     "jw01068001001_02102_00001_nrcb1", "jw01068001001_02102_00001",
     {"program_id": "01068", "observation": "001", "visit": "001", "visit_group": "02",
      "parallel_seq_id": "1", "activity": "02", "exposure_id": "00001"}),
    ("jw80500012009_01101_00012_nrcalong_uncal.fits", S12, "nircam", "uncal", "nrcalong",
     "jw80500012009_01101_00012_nrcalong", "jw80500012009_01101_00012", {"exposure_id": "00012"}),
    ("jw01068001001_02102_00001_nrcblong_rateints.fits", S12, "nircam", "rateints", "nrcblong",
     "jw01068001001_02102_00001_nrcblong", "jw01068001001_02102_00001", {}),
    ("jw01068001001_02102_00001_NRCA3_cal.fits", S12, "nircam", "cal", "NRCA3",
     "jw01068001001_02102_00001_NRCA3", "jw01068001001_02102_00001", {}),
    ("jw02589001001_04101_00001_nis_calints.fits", S12, "niriss", "calints", "nis",
     "jw02589001001_04101_00001_nis", "jw02589001001_04101_00001", {}),
    ("jw01118008001_03101_00002_nrs1_trapsfilled.fits", S12, "nirspec", "trapsfilled", "nrs1",
     "jw01118008001_03101_00002_nrs1", "jw01118008001_03101_00002", {}),
    ("jw01118008001_03101_00002_nrs2_s2d.fits", S12, "nirspec", "s2d", "nrs2",
     "jw01118008001_03101_00002_nrs2", "jw01118008001_03101_00002", {}),
    ("jw01118008001_03101_00002_nrs1_x1d.fits", S12, "nirspec", "x1d", "nrs1",
     "jw01118008001_03101_00002_nrs1", "jw01118008001_03101_00002", {}),
    ("jw01118008001_03101_00002_nrs1_x1dints.fits", S12, "nirspec", "x1dints", "nrs1",
     "jw01118008001_03101_00002_nrs1", "jw01118008001_03101_00002", {}),
    ("jw01523003001_03102_00001_mirifushort_s3d.fits", S12, "miri", "s3d", "mirifushort",
     "jw01523003001_03102_00001_mirifushort", "jw01523003001_03102_00001", {}),
    ("jw01024002001_02101_00001_mirimage_dark.fits", S12, "miri", "dark", "mirimage",
     "jw01024002001_02101_00001_mirimage", "jw01024002001_02101_00001", {}),
    ("jw01024002001_02101_00001_mirimage_ramp.fits", S12, "miri", "ramp", "mirimage",
     "jw01024002001_02101_00001_mirimage", "jw01024002001_02101_00001", {}),
    ("jw01024002001_02101_00001_mirimage_fitopt.fits", S12, "miri", "fitopt", "mirimage",
     "jw01024002001_02101_00001_mirimage", "jw01024002001_02101_00001", {}),
    ("jw01024002001_02101_00001_mirimage_bsub.fits", S12, "miri", "bsub", "mirimage",
     "jw01024002001_02101_00001_mirimage", "jw01024002001_02101_00001", {}),
    ("jw01024002001_02101_00001_mirimage_bsubints.fits", S12, "miri", "bsubints", "mirimage",
     "jw01024002001_02101_00001_mirimage", "jw01024002001_02101_00001", {}),
    ("jw01024002001_02101_00001_mirimage_c1d.fits", S12, "miri", "c1d", "mirimage",
     "jw01024002001_02101_00001_mirimage", "jw01024002001_02101_00001", {}),
    ("jw01069002001_01101_00001_guider1_cal.fits", S12, "fgs", "cal", "guider1",
     "jw01069002001_01101_00001_guider1", "jw01069002001_01101_00001", {}),
    ("jw01069002001_01101_00001_guider2_rate.fits", S12, "fgs", "rate", "guider2",
     "jw01069002001_01101_00001_guider2", "jw01069002001_01101_00001", {}),
    # activity is two word characters, not only digits
    ("jw01068001001_021a2_00001_nrca2_rate.fits", S12, "nircam", "rate", "nrca2",
     "jw01068001001_021a2_00001_nrca2", "jw01068001001_021a2_00001", {"activity": "a2"}),
    # coronagraphy, AMI, time-series photometry, WFS&C suffix families
    ("jw01411001001_03106_00001_nrcalong_psfstack.fits", S12, "nircam", "psfstack", "nrcalong",
     "jw01411001001_03106_00001_nrcalong", "jw01411001001_03106_00001", {}),
    ("jw01411001001_03106_00001_nrcalong_psfalign.fits", S12, "nircam", "psfalign", "nrcalong",
     "jw01411001001_03106_00001_nrcalong", "jw01411001001_03106_00001", {}),
    ("jw01411001001_03106_00001_nrcalong_psfsub.fits", S12, "nircam", "psfsub", "nrcalong",
     "jw01411001001_03106_00001_nrcalong", "jw01411001001_03106_00001", {}),
    ("jw01093001001_03102_00001_nis_amiavg.fits", S12, "niriss", "amiavg", "nis",
     "jw01093001001_03102_00001_nis", "jw01093001001_03102_00001", {}),
    ("jw01093001001_03102_00001_nis_aminorm.fits", S12, "niriss", "aminorm", "nis",
     "jw01093001001_03102_00001_nis", "jw01093001001_03102_00001", {}),
    ("jw01093001001_03102_00001_nis_ami.fits", S12, "niriss", "ami", "nis",
     "jw01093001001_03102_00001_nis", "jw01093001001_03102_00001", {}),
    ("jw01093001001_03102_00001_nis_psf-amiavg.fits", S12, "niriss", "psf-amiavg", "nis",
     "jw01093001001_03102_00001_nis", "jw01093001001_03102_00001", {}),
    ("jw01093001001_03102_00001_nis_ami-oi.fits", S12, "niriss", "ami-oi", "nis",
     "jw01093001001_03102_00001_nis", "jw01093001001_03102_00001", {}),
    ("jw01093001001_03102_00001_nis_amimulti-oi.fits", S12, "niriss", "amimulti-oi", "nis",
     "jw01093001001_03102_00001_nis", "jw01093001001_03102_00001", {}),
    ("jw01093001001_03102_00001_nis_amilg.fits", S12, "niriss", "amilg", "nis",
     "jw01093001001_03102_00001_nis", "jw01093001001_03102_00001", {}),
    ("jw01093001001_03102_00001_nis_aminorm-oi.fits", S12, "niriss", "aminorm-oi", "nis",
     "jw01093001001_03102_00001_nis", "jw01093001001_03102_00001", {}),
    ("jw01093001001_03102_00001_nis_psf-ami-oi.fits", S12, "niriss", "psf-ami-oi", "nis",
     "jw01093001001_03102_00001_nis", "jw01093001001_03102_00001", {}),
    ("jw01185001001_04101_00001_nrcalong_phot.fits", S12, "nircam", "phot", "nrcalong",
     "jw01185001001_04101_00001_nrcalong", "jw01185001001_04101_00001", {}),
    ("jw01185001001_04101_00001_nrcalong_whtlt.fits", S12, "nircam", "whtlt", "nrcalong",
     "jw01185001001_04101_00001_nrcalong", "jw01185001001_04101_00001", {}),
    ("jw01163001001_02101_00001_nrca3_wfscmb.fits", S12, "nircam", "wfscmb", "nrca3",
     "jw01163001001_02101_00001_nrca3", "jw01163001001_02101_00001", {}),
    ("jw01345001001_02201_00001_nrcb4_cat.fits", S12, "nircam", "cat", "nrcb4",
     "jw01345001001_02201_00001_nrcb4", "jw01345001001_02201_00001", {}),
    ("jw01345001001_02201_00001_nrcb4_segm.fits", S12, "nircam", "segm", "nrcb4",
     "jw01345001001_02201_00001_nrcb4", "jw01345001001_02201_00001", {}),
    # a preview name still parses (trailing text after a '_' is allowed, as in jwql)
    ("jw01068001001_02102_00001_nrcb1_rate_integ0.jpg", S12, "nircam", "rate", "nrcb1",
     "jw01068001001_02102_00001_nrcb1_rate_integ0", "jw01068001001_02102_00001_nrcb1_rate_integ0", {}),
    # a root name without extension must match whole and has no suffix
    ("jw01068001001_02102_00001_nrcb1", S12, "nircam", None, "nrcb1",
     "jw01068001001_02102_00001_nrcb1", "jw01068001001_02102_00001", {}),
    # stage 2c (outlier detection products carry the association id)
    ("jw94015002002_02108_00001_mirimage_o002_crf.fits", "stage_2c", "miri", "crf", "mirimage",
     "jw94015002002_02108_00001_mirimage", "jw94015002002_02108_00001", {"ac_id": "o002"}),
    ("jw01068001001_02102_00001_nrcb1_c1001_crfints.fits", "stage_2c", "nircam", "crfints", "nrcb1",
     "jw01068001001_02102_00001_nrcb1", "jw01068001001_02102_00001", {"ac_id": "c1001"}),
    # MSA metadata
    ("jw01118008001_01_msa.fits", "stage_2_msa", "nirspec", "msa", "Unknown",
     "jw01118008001_01_msa", "jw01118008001_01_msa",
     {"program_id": "01118", "observation": "008", "visit": "001"}),
    # stage 3 (target / source, with and without epoch)
    ("jw01068-o001_t001_nircam_clear-f150w_i2d.fits", "stage_3_target_id", "nircam", "i2d", "Unknown",
     "jw01068-o001_t001_nircam_clear-f150w", "jw01068-o001_t001_nircam_clear-f150w",
     {"program_id": "01068", "ac_id": "o001", "target_id": "t001", "optical_elements": "clear-f150w",
      "observation": None}),
    ("jw80600-o009_t001_miri_f1130w_i2d.fits", "stage_3_target_id", "miri", "i2d", "Unknown",
     "jw80600-o009_t001_miri_f1130w", "jw80600-o009_t001_miri_f1130w", {"ac_id": "o009"}),
    ("jw80600-o009_s00001_miri_f1130w_i2d.fits", "stage_3_source_id", "miri", "i2d", "Unknown",
     "jw80600-o009_s00001_miri_f1130w", "jw80600-o009_s00001_miri_f1130w", {"source_id": "s00001"}),
    ("jw80600-a3001_t001-epoch1_miri_f1130w_i2d.fits", "stage_3_target_id_epoch", "miri", "i2d", "Unknown",
     "jw80600-a3001_t001-epoch1_miri_f1130w", "jw80600-a3001_t001-epoch1_miri_f1130w",
     {"ac_id": "a3001", "epoch": "1", "target_id": "t001"}),
    ("jw80600-r0001_s00001-epoch2_nirspec_f290lp-g395h_x1d.fits", "stage_3_source_id_epoch", "nirspec", "x1d",
     "Unknown", "jw80600-r0001_s00001-epoch2_nirspec_f290lp-g395h",
     "jw80600-r0001_s00001-epoch2_nirspec_f290lp-g395h", {"epoch": "2", "source_id": "s00001"}),
    ("jw02738-o001_t001_niriss_clear-f200w_i2d.fits", "stage_3_target_id", "niriss", "i2d", "Unknown",
     "jw02738-o001_t001_niriss_clear-f200w", "jw02738-o001_t001_niriss_clear-f200w", {}),
    ("jw01069-o002_t001_fgs_clear_cal.fits", "stage_3_target_id", "fgs", "cal", "Unknown",
     "jw01069-o002_t001_fgs_clear", "jw01069-o002_t001_fgs_clear", {}),
    # time series
    ("jw00733003001_02101_00002-seg001_nrs1_rate.fits", "time_series", "nirspec", "rate", "nrs1",
     "jw00733003001_02101_00002-seg001_nrs1", "jw00733003001_02101_00002-seg001", {"segment": "001"}),
    ("jw01366001001_04101_00001-seg003_nis_calints.fits", "time_series", "niriss", "calints", "nis",
     "jw01366001001_04101_00001-seg003_nis", "jw01366001001_04101_00001-seg003", {"segment": "003"}),
    ("jw00733003001_02101_00002-seg001_nrs1_o001_crfints.fits", "time_series_2c", "nirspec", "crfints", "nrs1",
     "jw00733003001_02101_00002-seg001_nrs1", "jw00733003001_02101_00002-seg001",
     {"segment": "001", "ac_id": "o001"}),
    # guider (FGS guide-star products) and guider segments, every guider suffix
    ("jw00729011001_gs-id_1_image_cal.fits", "guider", "fgs", "image_cal", "Unknown",
     "jw00729011001_gs-id_1", "jw00729011001_gs-id_1", {"guider_mode": "id", "guide_star_attempt_id": "1"}),
    ("jw00729011001_gs-id_12_image_uncal.fits", "guider", "fgs", "image_uncal", "Unknown",
     "jw00729011001_gs-id_12", "jw00729011001_gs-id_12", {"guide_star_attempt_id": "12"}),
    ("jw00799003001_gs-acq1_2019154181705_stream.fits", "guider", "fgs", "stream", "Unknown",
     "jw00799003001_gs-acq1_2019154181705", "jw00799003001_gs-acq1_2019154181705",
     {"guider_mode": "acq1", "date_time": "2019154181705"}),
    ("jw00799003001_gs-acq2_2019154181705_stacked_uncal.fits", "guider", "fgs", "stacked_uncal", "Unknown",
     "jw00799003001_gs-acq2_2019154181705", "jw00799003001_gs-acq2_2019154181705", {"guider_mode": "acq2"}),
    ("jw00799003001_gs-track_2019154181705_stacked_cal.fits", "guider", "fgs", "stacked_cal", "Unknown",
     "jw00799003001_gs-track_2019154181705", "jw00799003001_gs-track_2019154181705", {"guider_mode": "track"}),
    ("jw01118005001_gs-fg_2022150070312-seg002_uncal.fits", "guider_segment", "fgs", "uncal", "Unknown",
     "jw01118005001_gs-fg_2022150070312-seg002", "jw01118005001_gs-fg_2022150070312-seg002",
     {"guider_mode": "fg", "segment": "002", "date_time": "2022150070312"}),
    ("jw01118005001_gs-fg_2022150070312-seg002_cal.fits", "guider_segment", "fgs", "cal", "Unknown",
     "jw01118005001_gs-fg_2022150070312-seg002", "jw01118005001_gs-fg_2022150070312-seg002", {}),
]

BAD = [
    "",  # empty
    "README.txt",
    "jw01068001001_02102_00001_nrcb1_notasuffix.fits",  # unknown suffix
    "jw01068001001_02102_00001_nrcb1_ratex.fits",  # suffix must be a whole token
    "jw01068001001_02102_00001_xyz1_rate.fits",  # unknown detector prefix (jwql: KeyError)
    "jw0106800100_02102_00001_nrcb1_rate.fits",  # visit id one digit short
    "jw01068001001_0210_00001_nrcb1_rate.fits",  # visit group + sequence + activity too short
    "JW01068001001_02102_00001_nrcb1_rate.fits",  # case matters, as in jwql
    "jw01068001001_02102_00001_nrcb1_rate",  # root names without extension must match whole
    "jw01068001001_02102_00001_nrcb1.fits",  # extension but no suffix
    "jw01068-o001_t001_webcam_f150w_i2d.fits",  # stage 3 with an unknown instrument
    "jw01068-x001_t001_nircam_f150w_i2d.fits",  # bad association id
    "jw01068-o001_t01_nircam_f150w_i2d.fits",  # target id too short
    "jw00729011001_gs-scan_1_image_cal.fits",  # unknown guider mode
    "jw00729011001_gs-id_1234_image_cal.fits",  # attempt id longer than 3 digits
    "jw01118008001_011_msa.fits",  # MSA id must be two characters
    "jw00733003001_02101_00002-seg01_nrs1_rate.fits",  # segment needs three digits
    "jw01068001001_02102_00001_nrcb1_msa.fits",  # msa.fits names are matched whole
    "jw01068001001_02102_00001_nrcb1_rate.fits.tmp.badname_#1",  # junk still has a recognisable start:
]


@pytest.mark.parametrize(
    ("name", "ftype", "instrument", "suffix", "detector", "file_root", "group_root", "extra"),
    GOOD,
    ids=[g[0] for g in GOOD],
)
def test_parses_jwql_patterns(name, ftype, instrument, suffix, detector, file_root, group_root, extra):
    parsed = parse_filename(name)
    assert set(parsed) == set(PARSED_KEYS)
    assert parsed["recognized_filename"] is True
    assert parsed["filename_type"] == ftype
    assert parsed["instrument"] == instrument
    assert parsed["instrument"] in INSTRUMENTS
    assert parsed["suffix"] == suffix
    assert parsed["detector"] == detector
    assert parsed["file_root"] == file_root
    assert parsed["group_root"] == group_root
    for key, value in extra.items():
        assert parsed[key] == value, key
    # a path parses like its base name
    assert parse_filename(f"/archive/public/jw01068/jw01068001001/{name}") == parsed


def test_table_covers_every_pattern_and_suffix_family():
    types = {g[1] for g in GOOD}
    assert types == set(FILENAME_TYPES)
    suffixes = {g[3] for g in GOOD}
    missing = set(FILE_SUFFIX_TYPES) - suffixes
    assert not missing, missing
    assert len(GOOD) + len(BAD) >= 40


@pytest.mark.parametrize("name", [b for b in BAD if not b.endswith("#1")])
def test_bad_names_raise_a_value_error_naming_the_file(name):
    with pytest.raises(UnrecognizedFilenameError) as info:
        parse_filename(name)
    assert isinstance(info.value, ValueError)
    assert info.value.filename == name
    assert repr(name) in str(info.value)


def test_trailing_junk_after_a_dot_is_accepted_as_jwql_does():
    # jwql matches only the start of the name; the root stops at the first '.'
    parsed = parse_filename("jw01068001001_02102_00001_nrcb1_rate.fits.tmp.badname_#1")
    assert parsed["suffix"] == "rate" and parsed["file_root"] == "jw01068001001_02102_00001_nrcb1"


def test_patterns_are_tried_in_jwql_order():
    assert FILENAME_TYPES == (
        "stage_1_and_2", "stage_2c", "stage_2_msa", "stage_3_target_id", "stage_3_source_id",
        "stage_3_target_id_epoch", "stage_3_source_id_epoch", "time_series", "time_series_2c",
        "guider", "guider_segment",
    )
    # jwql's order of suffix families: guider first, generic, time series, coronagraphy, AMI, WFS&C, MSA
    order = [FILE_SUFFIX_TYPES.index(s) for s in ("stream", "uncal", "c1d", "phot", "psfstack", "amiavg", "wfscmb", "msa")]
    assert order == sorted(order)
    assert FILE_SUFFIX_TYPES.index("rateints") < FILE_SUFFIX_TYPES.index("rate")


@pytest.mark.parametrize("name", [g[0] for g in GOOD] + BAD)
def test_quick_classify_agrees_with_the_parser(name):
    try:
        parsed = parse_filename(name)
    except UnrecognizedFilenameError:
        expected = None
    else:
        expected = (parsed["instrument"], parsed["suffix"])
    assert quick_classify(name) == expected


def test_ignored_suffixes_match_jwql():
    assert IGNORED_SUFFIXES == ("original", "stream", "x1d", "x1dints", "c1d", "pre-image")
    assert is_ignored("jw00799003001_gs-acq1_2019154181705_stream.fits")
    assert is_ignored("jw01118008001_03101_00002_nrs1_x1dints.fits")
    assert not is_ignored("jw01068001001_02102_00001_nrcb1_rate.fits")
