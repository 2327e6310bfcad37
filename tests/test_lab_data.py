"""The lab's synthetic knowledge set and word tokenizer: pure, seeded, milliseconds."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from orchestrator.lab.synthetic import (
    SEEN_FOLDER,
    TUNE_FOLDER,
    draw_populations,
    vocabulary_texts,
    write_lab_set,
)
from orchestrator.lab.word_tokenizer import UNKNOWN, build_word_tokenizer
from training.errors import InputError
from training.knowledge import load_knowledge_set
from training.knowledge_folder import validate_knowledge_folder
from training.methods import MaskedFineTuning, resolve_mask_id


def files(folder: Path) -> dict[str, str]:
    return {str(path.relative_to(folder)): path.read_text() for path in sorted(folder.rglob("*.jsonl"))}


def test_same_seed_same_files_other_seed_other_people(tmp_path: Path) -> None:
    first = files(write_lab_set(tmp_path / "a", people=20, seed=1))
    assert first == files(write_lab_set(tmp_path / "b", people=20, seed=1))
    assert first != files(write_lab_set(tmp_path / "c", people=20, seed=2))


def test_populations_are_disjoint_and_every_name_and_description_unique() -> None:
    populations = draw_populations(50, seed=0)
    seen, tune, report = populations.seen, populations.tune, populations.report
    assert (len(seen), len(tune), len(report)) == (150, 50, 50)
    everyone = seen + tune + report
    assert len({person.name for person in everyone}) == 250
    assert len({person.description for person in everyone}) == 250
    assert Counter(person.order for person in report) == {"N2D": 25, "D2N": 25}
    assert Counter(person.order for person in tune) == {"N2D": 25, "D2N": 25}
    # The first draw (tuning + seen people) does not depend on the reporting people drawn after it.
    assert draw_populations(50, seed=1).report != report
    assert draw_populations(50, seed=0) == populations


def test_loads_through_the_knowledge_loader_with_the_four_categories(tmp_path: Path) -> None:
    folder = write_lab_set(tmp_path / "lab", people=10, seed=0)
    assert validate_knowledge_folder(folder) == []
    assert validate_knowledge_folder(folder / SEEN_FOLDER) == []
    new = load_knowledge_set(folder, "none")
    assert new.categories == ("N2D-fwd", "N2D-bwd", "D2N-fwd", "D2N-bwd")
    assert len(new.documents) == 10
    assert Counter(q.category for q in new.questions) == {c: 5 for c in new.categories}
    person = new.documents[0].split(" is ")[0]  # the first person is stated name first
    asked = [q for q in new.questions if person in q.question]
    assert [(q.direction, q.category) for q in asked] == [("fwd", "N2D-fwd")]
    assert any(person in q.answers for q in new.questions if q.category == "N2D-bwd")
    paraphrased = load_knowledge_set(folder, "same-order")
    assert set(new.documents) < set(paraphrased.documents)
    seen = load_knowledge_set(folder / SEEN_FOLDER, "same-order")
    tune = load_knowledge_set(folder / TUNE_FOLDER, "none")
    assert validate_knowledge_folder(folder / TUNE_FOLDER) == []
    assert tune.categories == new.categories and len(tune.documents) == 10
    asked = [{q.question for q in population.questions} for population in (seen, tune, new)]
    assert not asked[0] & asked[1] and not asked[0] & asked[2] and not asked[1] & asked[2]


def test_too_few_or_too_many_people_is_one_clear_error() -> None:
    with pytest.raises(InputError, match="--people"):
        draw_populations(1, seed=0)
    with pytest.raises(InputError, match="--people"):
        draw_populations(181, seed=0)  # 5 x 181 people > the 900 names
    assert len(draw_populations(180, seed=0).seen) == 540


def test_word_tokenizer_covers_every_word_and_the_methods_layouts(tmp_path: Path) -> None:
    tokenizer = build_word_tokenizer(vocabulary_texts())
    folder = write_lab_set(tmp_path / "lab", people=30, seed=3)
    knowledge = load_knowledge_set(folder / SEEN_FOLDER, "same-order")
    texts = [*knowledge.documents, *(q.question for q in knowledge.questions)]
    unknown = tokenizer.convert_tokens_to_ids(UNKNOWN)
    assert all(unknown not in tokenizer.encode(text) for text in texts)
    assert tokenizer.decode(tokenizer.encode(texts[0], add_special_tokens=False)) == texts[0]
    example = MaskedFineTuning(tokenizer, resolve_mask_id(tokenizer)).encode(tokenizer, texts[0])
    document = tokenizer.encode(texts[0], add_special_tokens=False)
    maskable = [t for t, flag in zip(example.input_ids, example.maskable, strict=True) if flag]
    assert maskable == document


def test_data_synth_writes_a_folder_data_show_reads(mft, tmp_path: Path) -> None:
    out = tmp_path / "people"
    result = mft("data", "synth", "--out", str(out), "--people", "12", "--seed", "4")
    assert result.code == 0, result.err
    assert "N2D-fwd 6, N2D-bwd 6, D2N-fwd 6, D2N-bwd 6" in result.out
    assert files(out) == files(write_lab_set(tmp_path / "again", people=12, seed=4))
    shown = mft("data", "show", str(out), "--paraphrase", "same-order")
    assert shown.code == 0 and "documents" in shown.out and "48" in shown.out


def test_lab_refuses_an_unknown_method_before_building_anything(mft, tmp_path: Path) -> None:
    result = mft("lab", "--methods", "mlm", "--data-dir", str(tmp_path))
    assert result.code == 2
    assert "unknown method 'mlm'" in result.err
    assert list(tmp_path.iterdir()) == []


def test_a_failing_base_model_build_leaves_nothing_marked_built(tmp_path: Path) -> None:
    # No recipe marker may claim a half-built folder: the next `mft lab` must build it again.
    from orchestrator.lab.base_models import RECIPE_FILE, LabRecipe, prepare_lab

    with pytest.raises(ValueError, match="collate needs at least one example"):
        prepare_lab(LabRecipe(people=4, steps=2, batch_size=0), tmp_path)
    assert not list(tmp_path.rglob(RECIPE_FILE))
