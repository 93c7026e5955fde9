"""The CPU's vector level in a sandbox's identity: machines whose numerics round differently never share a
cached verdict (sandboxes/cpu.py says why: the same reward trains to 0.997 on AVX-512 and 0.887 on AVX2)."""

from __future__ import annotations

from sandboxes.cpu import describe, vector_level, x86_level

# the flags lines of this project's two kinds of machine, cut to what decides the level
AVX2_EPYC = (
    "processor\t: 0\nvendor_id\t: AuthenticAMD\n"
    "flags\t\t: sse sse2 ssse3 fma cx16 sse4_1 sse4_2 movbe popcnt xsave avx f16c lahf_lm bmi1 avx2 bmi2\n"
)
AVX512_XEON = AVX2_EPYC.replace("bmi2", "bmi2 avx512f avx512dq avx512cd avx512bw avx512vl")
AMX_XEON = AVX512_XEON.replace("avx512vl", "avx512vl amx_bf16 amx_tile amx_int8")


def test_the_level_follows_the_flags_of_each_kind_of_machine() -> None:
    assert describe("x86_64", AVX2_EPYC) == "x86_64-v3"
    assert describe("x86_64", AVX512_XEON) == "x86_64-v4"
    assert describe("x86_64", AMX_XEON) == "x86_64-v4+amx"


def test_a_level_needs_every_flag_of_it_and_of_the_levels_below() -> None:
    assert x86_level(frozenset({"avx2", "avx512f"})) == "v1"  # no v2 flags: v3's and v4's do not count
    partial_v4 = frozenset(AVX2_EPYC.split()) | {"avx512f"}  # AVX-512 foundation alone is not v4
    assert x86_level(partial_v4) == "v3"
    assert describe("x86_64", "processor\t: 0\n") == "x86_64"  # nothing known of the flags: the bare machine


def test_arm_names_sve_apart() -> None:
    assert describe("aarch64", "Features\t: fp asimd sve\n") == "aarch64+sve"
    assert describe("aarch64", "Features\t: fp asimd\n") == "aarch64"


def test_this_machine_has_a_level() -> None:
    level = vector_level()
    assert level and ":" not in level  # it is the last field of an identity that ":" separates
