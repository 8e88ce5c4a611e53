"""Six documents written by hand in other house styles (a GP referral, a discharge
notification, an upper-case biochemistry report, a GP system's medication export,
a nursing chart, a respiratory letter). Their gold was written before the local
provider was run on them, and the rules were not tuned to them: they are the
held-out check on how far the generator's phrasing flatters the rules."""

from __future__ import annotations

from tests.support.clinical_corpus.documents import CorpusDocument
from tests.support.clinical_corpus.writer import M, Writer


def _referral() -> CorpusDocument:
    w = Writer("hand-referral", "clinic_letter")
    w.line("Parkside Health Centre")
    w.line("12 Church Lane, Leeds")
    w.line("Date: 04/11/2024")
    w.document_date = "2024-11-04"
    w.gap()
    w.line("Dear Colleague,")
    w.line("Re: Mr Alan Brooks, DOB 14/06/1956")
    w.gap()
    w.para(
        "Thank you for seeing this 68 year old man with a 3 month history of exertional ",
        M("chest tightness", "observation"),
        " and ",
        M("breathlessness", "observation"),
        " on climbing stairs. He has had no ",
        M("syncope", "observation", negated=True),
        " and no ",
        M("palpitations", "observation", negated=True),
        ". He was diagnosed with ",
        M("type 2 diabetes", "condition"),
        " in 2015 and has ",
        M("hypertension", "condition"),
        ". He had a ",
        M("TIA", "condition", historical=True),
        " in 2019 from which he made a full recovery. His father died of a ",
        M("myocardial infarction", "condition", family=True),
        " aged 58 and his brother has ",
        M("angina", "condition", family=True),
        ". He is an ",
        M("ex-smoker", "observation", historical=True),
        " of 20 pack years.",
        width=92,
    )
    w.para(
        "On examination his ",
        M("BP was 156/94 mmHg", "vital_sign"),
        ", ",
        M("pulse 78", "vital_sign"),
        " regular, ",
        M("BMI 31.4", "vital_sign"),
        ". Heart sounds were normal with no ",
        M("murmurs", "physical_finding", negated=True),
        " and there was no ",
        M("ankle swelling", "physical_finding", negated=True),
        ".",
        width=92,
    )
    w.para(
        "Recent bloods: ",
        M("HbA1c 62 mmol/mol", "lab_result"),
        ", ",
        M("total cholesterol 5.8 mmol/L", "lab_result"),
        ", ",
        M("eGFR 71 mL/min/1.73m2", "lab_result"),
        ".",
        width=92,
    )
    w.para(
        "His current medication is ",
        M("metformin 1 g twice daily", "medication"),
        ", ",
        M("ramipril 10 mg once daily", "medication"),
        " and ",
        M("atorvastatin 20 mg at night", "medication"),
        ". I have added ",
        M("aspirin 75 mg daily", "medication"),
        ".",
        width=92,
    )
    w.para(
        "He is allergic to ",
        M("penicillin", "allergy"),
        ", which gives him a widespread rash.",
        width=92,
    )
    w.para(
        "I would be grateful for your assessment. If his ",
        M("chest pain", "observation", hypothetical=True),
        " becomes more frequent or occurs at rest, I have advised him to call 999.",
        width=92,
    )
    w.line("Yours faithfully,")
    w.line("Dr K Osei")
    for name, strength, unit, frequency, status in (
        ("metformin", 1.0, "g", "twice daily", "active"),
        ("ramipril", 10.0, "mg", "once daily", "active"),
        ("atorvastatin", 20.0, "mg", "at night", "active"),
        ("aspirin", 75.0, "mg", "once daily", "new"),
    ):
        w.record(
            "medications",
            name=name,
            strength=strength,
            strength_unit=unit,
            frequency=frequency,
            status=status,
        )
    for test, value, unit in (
        ("HbA1c", 62.0, "mmol/mol"),
        ("total cholesterol", 5.8, "mmol/L"),
        ("eGFR", 71.0, "mL/min/{1.73_m2}"),
    ):
        w.record("lab_results", test=test, value=value, unit=unit)
    w.record("vitals", type="blood_pressure", systolic=156.0, diastolic=94.0, unit="mm[Hg]")
    w.record("vitals", type="heart_rate", value=78.0, unit="/min")
    w.record("vitals", type="bmi", value=31.4, unit="kg/m2")
    for name, status in (
        ("type 2 diabetes mellitus", "active"),
        ("hypertension", "active"),
        ("transient ischaemic attack", "history"),
        ("myocardial infarction", "family"),
        ("angina", "family"),
    ):
        w.record("conditions", name=name, status=status)
    w.record("allergies", substance="penicillin", reaction="widespread rash")
    return w.build()


def _notification() -> CorpusDocument:
    w = Writer("hand-notification", "discharge_summary")
    w.line("RIVERSIDE GENERAL HOSPITAL")
    w.line("DISCHARGE NOTIFICATION")
    w.line("Name: Mrs Joan Patterson")
    w.line("Hospital No: R4471902")
    w.line("Date of admission: 2 February 2024")
    w.line("Date of discharge: 9 February 2024")
    w.document_date = "2024-02-09"
    w.gap()
    w.line("Diagnosis on discharge: Exacerbation of ", M("COPD", "condition"))
    w.line(
        "Secondary diagnoses: ",
        M("Atrial fibrillation", "condition"),
        ", ",
        M("Chronic kidney disease", "condition"),
        " stage 3",
    )
    w.gap()
    w.line("Summary of admission:")
    w.para(
        "Admitted with worsening ",
        M("shortness of breath", "observation"),
        ", ",
        M("wheeze", "physical_finding"),
        " and a ",
        M("productive cough", "observation"),
        ". ",
        M("Chest X-ray", "procedure"),
        " showed no ",
        M("consolidation", "physical_finding", negated=True),
        " and no ",
        M("pneumothorax", "condition", negated=True),
        ". She was treated with nebulised ",
        M("salbutamol", "medication"),
        ", ",
        M("prednisolone 30 mg once daily for 5 days", "medication"),
        " and ",
        M("doxycycline 100 mg once daily", "medication"),
        ". Her ",
        M("oxygen saturations were 88%", "vital_sign"),
        " on air on arrival, improving to ",
        M("94%", "vital_sign"),
        " on 2L.",
        width=90,
    )
    w.line(
        "Bloods on admission: ",
        M("WCC 13.4", "lab_result"),
        ", ",
        M("CRP 48", "lab_result"),
        ", ",
        M("K 5.4", "lab_result"),
        ", ",
        M("creatinine 142", "lab_result"),
        ".",
    )
    w.gap()
    w.line("Medication changes:")
    w.line(
        "STOPPED: ",
        M("Bendroflumethiazide 2.5mg OD", "medication"),
        " (",
        M("hyponatraemia", "condition"),
        ")",
    )
    w.line("STARTED: ", M("Prednisolone 30mg OD for 5 days", "medication"))
    w.gap()
    w.line("Medications on discharge:")
    w.line(M("Apixaban 5mg BD", "medication"))
    w.line(M("Bisoprolol 2.5mg OD", "medication"))
    w.line(M("Tiotropium 18 micrograms inhaled once daily", "medication"))
    w.line(M("Salbutamol 100 micrograms 2 puffs PRN", "medication"))
    w.line(M("Prednisolone 30mg OD", "medication"), " (3 more days)")
    w.gap()
    w.line("Allergies: ", M("nil known", "allergy", negated=True))
    w.line("Follow up: Respiratory clinic in 6 weeks. Return if breathing worsens.")
    for name, strength, frequency, status in (
        ("prednisolone", 30.0, "once daily", "active"),
        ("doxycycline", 100.0, "once daily", "active"),
        ("bendroflumethiazide", 2.5, "once daily", "stopped"),
        ("prednisolone", 30.0, "once daily", "new"),
        ("apixaban", 5.0, "twice daily", "active"),
        ("bisoprolol", 2.5, "once daily", "active"),
        ("tiotropium", 18.0, "once daily", "active"),
        ("salbutamol", 100.0, "as needed", "active"),
    ):
        w.record("medications", name=name, strength=strength, frequency=frequency, status=status)
    for test, value, unit in (
        ("white cell count", 13.4, "10*9/L"),
        ("CRP", 48.0, "mg/L"),
        ("potassium", 5.4, "mmol/L"),
        ("creatinine", 142.0, "umol/L"),
    ):
        w.record("lab_results", test=test, value=value, unit=unit)
    w.record("vitals", type="oxygen_saturation", value=88.0, unit="%")
    w.record("vitals", type="oxygen_saturation", value=94.0, unit="%")
    for name, status in (
        ("chronic obstructive pulmonary disease", "active"),
        ("atrial fibrillation", "active"),
        ("chronic kidney disease", "active"),
        ("pneumothorax", "negated"),
        ("hyponatraemia", "active"),
    ):
        w.record("conditions", name=name, status=status)
    w.record("procedures", name="chest X-ray")
    return w.build()


def _biochemistry() -> CorpusDocument:
    w = Writer("hand-biochemistry", "lab_report")
    w.line("NORTHFIELD INFIRMARY - CLINICAL BIOCHEMISTRY")
    w.line("Patient: OKAFOR, Grace DOB: 03.07.1961")
    w.line("Specimen received: 18.03.2024 09:12")
    w.line("Report date: 19.03.2024")
    w.document_date = "2024-03-19"
    w.gap()
    w.line("TEST RESULT FLAG UNITS REF RANGE")
    rows = (
        ("SODIUM 131 L mmol/L 133-146", "sodium", 131.0, "mmol/L", "L"),
        ("POTASSIUM 4.8 mmol/L 3.5-5.3", "potassium", 4.8, "mmol/L", "N"),
        ("UREA 9.1 H mmol/L 2.5-7.8", "urea", 9.1, "mmol/L", "H"),
        ("CREATININE 118 H umol/L 45-84", "creatinine", 118.0, "umol/L", "H"),
        ("eGFR 43 mL/min/1.73m2 >90", "eGFR", 43.0, "mL/min/{1.73_m2}", "L"),
        ("CALCIUM (ADJUSTED) 2.41 mmol/L 2.20-2.60", "calcium", 2.41, "mmol/L", "N"),
        ("PHOSPHATE 1.2 mmol/L 0.8-1.5", "phosphate", 1.2, "mmol/L", "N"),
        ("TSH 0.02 L mU/L 0.27-4.20", "TSH", 0.02, "m[IU]/L", "L"),
        ("FREE T4 31.4 H pmol/L 12.0-22.0", "free T4", 31.4, "pmol/L", "H"),
    )
    for text, test, value, unit, flag in rows:
        w.line(M(text, "lab_result"))
        w.record("lab_results", test=test, value=value, unit=unit, abnormal_flag=flag)
    w.gap()
    w.para(
        "Comment: Suppressed TSH with raised free T4, consistent with ",
        M("hyperthyroidism", "condition"),
        ". Suggest repeat thyroid function in 6 weeks and review of ",
        M("levothyroxine", "medication"),
        " dose.",
        width=88,
    )
    w.record("conditions", name="hyperthyroidism", status="active")
    w.record("medications", name="levothyroxine", status="active")
    return w.build()


def _export() -> CorpusDocument:
    w = Writer("hand-export", "medication_list")
    w.line("LEEDS ROAD SURGERY")
    w.line("Patient medication summary")
    w.line("Name: Mr Harold Finch")
    w.line("Printed: 22/01/2025")
    w.document_date = "2025-01-22"
    w.gap()
    w.line("Acute medication:")
    w.line(
        M("Nitrofurantoin 100mg m/r capsules, one to be taken twice a day for 3 days", "medication")
    )
    w.gap()
    w.line("Repeat medication:")
    meds = (
        (
            "Levothyroxine sodium 75microgram tablets, one to be taken each morning",
            "levothyroxine",
            75.0,
            "ug",
            "in the morning",
        ),
        (
            "Co-codamol 30mg/500mg tablets, two to be taken up to four times a day when required",
            "co-codamol",
            None,
            None,
            "four times daily as needed",
        ),
        (
            "Sertraline 50mg tablets, one to be taken once a day",
            "sertraline",
            50.0,
            "mg",
            "once daily",
        ),
        ("Mirtazapine 15mg tablets, one at night", "mirtazapine", 15.0, "mg", "at night"),
        (
            "Gaviscon Advance liquid, 10ml after meals and at bedtime",
            "gaviscon advance",
            None,
            None,
            None,
        ),
        ("Adcal-D3 chewable tablets, one twice a day", "adcal-d3", None, None, "twice daily"),
    )
    w.record(
        "medications",
        name="nitrofurantoin",
        strength=100.0,
        strength_unit="mg",
        frequency="twice daily",
    )
    for text, name, strength, unit, frequency in meds:
        w.line(M(text, "medication"))
        w.record(
            "medications", name=name, strength=strength, strength_unit=unit, frequency=frequency
        )
    w.gap()
    w.line("Allergies & sensitivities:")
    w.line(M("Erythromycin - vomiting", "allergy"))
    w.line(M("Elastoplast - skin reaction", "allergy"))
    w.record("allergies", substance="erythromycin", reaction="vomiting")
    w.record("allergies", substance="elastoplast", reaction="skin reaction")
    w.gap()
    w.line("Problems:")
    w.line(M("Hypothyroidism", "condition"), " (2009)")
    w.line(M("Depression", "condition"))
    w.line(M("Osteoarthritis", "condition"), " of knee")
    w.record("conditions", name="hypothyroidism", status="active", onset_date="2009")
    w.record("conditions", name="depression", status="active")
    w.record("conditions", name="osteoarthritis", status="active")
    w.gap()
    w.line("Immunisations:")
    w.line(M("Influenza vaccine", "immunization"), " 07/10/2024")
    w.line(M("COVID-19", "immunization"), " autumn booster 15/10/2024")
    w.record("immunizations", vaccine="influenza vaccine", date="2024-10-07")
    w.record("immunizations", vaccine="COVID-19 vaccine", date="2024-10-15")
    return w.build()


def _nursing() -> CorpusDocument:
    w = Writer("hand-nursing", "vitals_record")
    w.line("Ward 12 - Nursing observations")
    w.line("Date: 5 May 2024")
    w.document_date = "2024-05-05"
    w.gap()
    for time, bp, hr, rr, sats, temp in (
        ("06:00", (98, 60), 112, 24, 91, 38.9),
        ("10:00", (104, 66), 104, 22, 94, 38.1),
        ("14:00", (118, 72), 92, 18, 96, 37.4),
    ):
        w.line(
            f"{time} ",
            M(f"BP {bp[0]}/{bp[1]}", "vital_sign"),
            " ",
            M(f"HR {hr}", "vital_sign"),
            " ",
            M(f"RR {rr}", "vital_sign"),
            " ",
            M(f"SpO2 {sats}%", "vital_sign"),
            " ",
            M(f"Temp {temp}", "vital_sign"),
        )
        w.record("vitals", type="blood_pressure", systolic=float(bp[0]), diastolic=float(bp[1]))
        w.record("vitals", type="heart_rate", value=float(hr), unit="/min")
        w.record("vitals", type="respiratory_rate", value=float(rr), unit="/min")
        w.record("vitals", type="oxygen_saturation", value=float(sats), unit="%")
        w.record("vitals", type="temperature", value=temp, unit="Cel")
    w.gap()
    w.para(
        "Nursing note: Patient ",
        M("febrile", "observation"),
        " overnight and ",
        M("tachycardic", "physical_finding"),
        ". Complaining of ",
        M("rigors", "observation"),
        " and ",
        M("dysuria", "observation"),
        ". No ",
        M("vomiting", "observation", negated=True),
        ". Blood cultures taken. IV ",
        M("co-amoxiclav", "medication"),
        " given as prescribed. Urine dipstick positive for nitrites. ",
        M("Sepsis", "condition"),
        " screen positive; sepsis six completed.",
        width=86,
    )
    w.record("medications", name="co-amoxiclav", route="intravenous")
    w.record("conditions", name="sepsis", status="active")
    return w.build()


def _respiratory() -> CorpusDocument:
    w = Writer("hand-respiratory", "clinic_letter")
    w.line("Respiratory Outpatients, Kingsway University Hospital")
    w.line("Clinic date: 11 June 2024 Typed: 13 June 2024")
    w.document_date = "2024-06-11"
    w.gap()
    w.line("Dear Dr Wright,")
    w.line("Re: Ms Lucy Barnes, DOB 22/09/1988")
    w.line("Diagnosis: ", M("Asthma", "condition"), ", poorly controlled")
    w.gap()
    w.para(
        "Ms Barnes attended with her mother. She reports a nocturnal ",
        M("cough", "observation"),
        " and ",
        M("wheeze", "physical_finding"),
        " three nights a week but no ",
        M("haemoptysis", "observation", negated=True),
        ", ",
        M("weight loss", "observation", negated=True),
        " or ",
        M("night sweats", "observation", negated=True),
        ". ",
        M("Fever", "observation", negated=True),
        " was denied. She has never smoked. There is no history of ",
        M("eczema", "condition", negated=True),
        " or ",
        M("hay fever", "condition", negated=True),
        ". Her mother has ",
        M("asthma", "condition", family=True),
        ".",
        width=92,
    )
    w.para(
        M("Spirometry", "procedure"),
        " today showed an obstructive pattern (FEV1 68% predicted). FeNO 54 ppb.",
        width=92,
    )
    w.para(
        "Her inhaler technique was poor. She is currently using a ",
        M("beclometasone 100 micrograms inhaler, 2 puffs twice daily", "medication"),
        ", and ",
        M("salbutamol 100 micrograms as required", "medication"),
        ", up to 6 times a day. I have switched her to ",
        M("Fostair 100/6, 2 puffs twice daily", "medication"),
        ", and asked her to return in 3 months. Should her symptoms worsen, she may need a"
        " course of ",
        M("prednisolone", "medication", hypothetical=True),
        ".",
        width=92,
    )
    w.line("Yours sincerely,")
    w.line("Dr P Nair, Consultant Respiratory Physician")
    w.record(
        "medications",
        name="beclometasone",
        strength=100.0,
        strength_unit="ug",
        dose=2.0,
        dose_unit="{puff}",
        frequency="twice daily",
    )
    w.record("medications", name="salbutamol", strength=100.0, frequency="as needed")
    w.record("medications", name="fostair", frequency="twice daily", status="new")
    w.record("conditions", name="asthma", status="active")
    w.record("conditions", name="eczema", status="negated")
    w.record("conditions", name="hay fever", status="negated")
    w.record("conditions", name="asthma", status="family")
    w.record("procedures", name="spirometry")
    return w.build()


def handwritten() -> list[CorpusDocument]:
    """The six held-out documents written by hand (see the note above them)."""
    return [_referral(), _notification(), _biochemistry(), _export(), _nursing(), _respiratory()]
