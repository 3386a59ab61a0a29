"""The words pages use for what happened: record names, threshold names, error summaries, the end
of an upload."""

from django import forms

from core.templatetags.form_feedback import error_summary
from imaging.ingest import final_state
from workup.criteria import threshold_label
from workup.services import record_noun, record_title


def test_each_record_kind_has_one_name_in_a_sentence_and_one_heading():
    assert record_noun("volumetry") == "CT volumetry"
    assert record_noun("labs") == "laboratory results"
    assert record_noun("steatosis", "mri_pdff") == "MRI-PDFF steatosis"
    assert record_noun("clearances", "donor_advocate") == "donor advocate clearance"
    assert record_title("steatosis", "ct") == "Steatosis: Unenhanced CT (liver and spleen HU)"
    assert record_title("clearances", "psychosocial") == "Psychosocial evaluation"
    assert record_title("hepatic-veins") == "Hepatic veins"


def test_threshold_names_read_as_words():
    assert threshold_label("gv_slv_fail_below") == "GV / SLV fail below"
    assert threshold_label("fib4_flag") == "FIB-4 flag"
    assert threshold_label("bmi_max_without_biopsy") == "BMI max without biopsy"
    assert threshold_label("vein_reconstruct_mm") == "Vein reconstruct (mm)"


def test_an_upload_fails_only_when_nothing_was_stored():
    assert final_state(3, 0, 2) == ("done", "")
    assert final_state(0, 5, 0) == ("done", "")  # all already stored: nothing is lost
    refused = "nothing imported: the file was refused (the reasons are listed per file)"
    assert final_state(0, 0, 1) == ("failed", refused)
    assert final_state(0, 0, 4)[1].startswith("nothing imported: all 4 files were refused")
    assert final_state(0, 0, 0) == ("failed", "nothing imported: the upload held no file to read")


class ChoiceForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)
    name = forms.CharField(label="Name")
    colour = forms.ChoiceField(label="Colour", choices=[("r", "red"), ("g", "green")], widget=forms.RadioSelect)

    def clean(self):
        raise forms.ValidationError("the whole form is wrong")


def test_the_error_summary_lists_every_problem_with_where_to_go():
    form = ChoiceForm({"version": "x"})
    summary = error_summary(form)
    assert summary is not None and summary.heading == "There are 4 problems"
    targets = [(p.target, p.label) for p in summary.problems]
    # The form's own problem and the hidden field's lead nowhere; a radio group leads to its first choice.
    assert targets == [("", ""), ("", ""), ("id_name", "Name"), ("id_colour_0", "Colour")]
    assert error_summary(ChoiceForm()) is None  # an unbound form has no problems yet
