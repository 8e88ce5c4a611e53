"""The words the generators choose from: names, medicines, tests, conditions and more."""

PATIENTS = (
    ("Margaret Hill", "she"),
    ("John Carter", "he"),
    ("Aisha Khan", "she"),
    ("Peter Novak", "he"),
    ("Grace Okafor", "she"),
    ("David Evans", "he"),
    ("Susan Clarke", "she"),
    ("Tom Reilly", "he"),
    ("Mei Chen", "she"),
    ("Robert Singh", "he"),
    ("Fatima Rahman", "she"),
    ("George Walsh", "he"),
)
DOCTORS = ("Dr A Patel", "Dr S Morgan", "Dr R Lewis", "Dr J Wright", "Dr H Ahmed", "Dr C Byrne")
HOSPITALS = (
    "St Mary's Hospital",
    "Riverside General Hospital",
    "Northfield Infirmary",
    "Kingsway University Hospital",
)
PRACTICES = ("Leeds Road Surgery", "Northfield Medical Centre", "Parkside Health Centre")
WARDS = ("Elm Ward", "Oak Ward", "Ward 7B", "Beech Unit")

# Medicines: display name, canonical name, strengths, unit as written, UCUM unit.
MEDICINES = (
    ("Metformin", "metformin", (500, 850, 1000), "mg", "mg"),
    ("Atorvastatin", "atorvastatin", (10, 20, 40, 80), "mg", "mg"),
    ("Simvastatin", "simvastatin", (20, 40), "mg", "mg"),
    ("Ramipril", "ramipril", (1.25, 2.5, 5, 10), "mg", "mg"),
    ("Amlodipine", "amlodipine", (5, 10), "mg", "mg"),
    ("Bisoprolol", "bisoprolol", (1.25, 2.5, 5), "mg", "mg"),
    ("Lansoprazole", "lansoprazole", (15, 30), "mg", "mg"),
    ("Omeprazole", "omeprazole", (20, 40), "mg", "mg"),
    ("Levothyroxine", "levothyroxine", (25, 50, 100), "micrograms", "ug"),
    ("Apixaban", "apixaban", (2.5, 5), "mg", "mg"),
    ("Furosemide", "furosemide", (20, 40), "mg", "mg"),
    ("Sertraline", "sertraline", (50, 100), "mg", "mg"),
    ("Amitriptyline", "amitriptyline", (10, 25), "mg", "mg"),
    ("Aspirin", "aspirin", (75,), "mg", "mg"),
    ("Clopidogrel", "clopidogrel", (75,), "mg", "mg"),
    ("Gabapentin", "gabapentin", (300,), "mg", "mg"),
    ("Lisinopril", "lisinopril", (10, 20), "mg", "mg"),
    ("Losartan", "losartan", (25, 50), "mg", "mg"),
    ("Gliclazide", "gliclazide", (40, 80), "mg", "mg"),
    ("Allopurinol", "allopurinol", (100, 300), "mg", "mg"),
    ("Citalopram", "citalopram", (10, 20), "mg", "mg"),
    ("Folic acid", "folic acid", (5,), "mg", "mg"),
    ("Doxycycline", "doxycycline", (100,), "mg", "mg"),
    ("Prednisolone", "prednisolone", (5, 30), "mg", "mg"),
    ("Tamsulosin", "tamsulosin", (400,), "micrograms", "ug"),
)
ACUTE = (
    ("Amoxicillin", "amoxicillin", (250, 500), "mg", "mg"),
    ("Clarithromycin", "clarithromycin", (250, 500), "mg", "mg"),
    ("Nitrofurantoin", "nitrofurantoin", (50, 100), "mg", "mg"),
    ("Flucloxacillin", "flucloxacillin", (500,), "mg", "mg"),
)
FREQUENCIES = {
    "once daily": ("once daily", "once a day", "OD", "daily", "every day", "o.d."),
    "twice daily": ("twice daily", "twice a day", "BD", "bd", "two times a day", "b.d."),
    "three times daily": ("three times daily", "three times a day", "TDS", "tds", "8 hourly"),
    "four times daily": ("four times daily", "four times a day", "QDS", "6 hourly"),
    "at night": ("at night", "ON", "nocte", "once daily at night", "nightly"),
    "in the morning": ("in the morning", "each morning", "OM", "mane"),
}
# Plain words for the GP-system style "one to be taken twice a day".
SPOKEN = {
    "once daily": "once a day",
    "twice daily": "twice a day",
    "three times daily": "three times a day",
    "four times daily": "four times a day",
    "at night": "at night",
    "in the morning": "each morning",
}
# Medicines the lexicon does not list: the rules cannot find them.
UNLISTED = (
    ("Mebeverine", "mebeverine", (135,), "mg", "mg"),
    ("Ezetimibe", "ezetimibe", (10,), "mg", "mg"),
    ("Bumetanide", "bumetanide", (1,), "mg", "mg"),
    ("Solifenacin", "solifenacin", (5,), "mg", "mg"),
)
ROUTES = {"oral": ("PO", "orally", "by mouth", "oral", "p.o.")}

# Tests: names as written, canonical, units as written -> UCUM, low, high, decimals.
LABS = (
    (("Haemoglobin", "Hb", "Hemoglobin"), "haemoglobin", (("g/L", "g/L"),), 130, 170, 0),
    (
        ("White cell count", "WCC", "WBC"),
        "white cell count",
        (("x10^9/L", "10*9/L"), ("x10*9/L", "10*9/L"), ("10^9/L", "10*9/L")),
        4.0,
        11.0,
        1,
    ),
    (("Platelets", "Platelet count", "PLT"), "platelets", (("x10^9/L", "10*9/L"),), 150, 400, 0),
    (("Sodium", "Na"), "sodium", (("mmol/L", "mmol/L"),), 135, 145, 0),
    (
        ("Potassium", "K", "K+"),
        "potassium",
        (("mmol/L", "mmol/L"), ("mmol/l", "mmol/L")),
        3.5,
        5.3,
        1,
    ),
    (("Urea",), "urea", (("mmol/L", "mmol/L"),), 2.5, 7.8, 1),
    (
        ("Creatinine",),
        "creatinine",
        (("umol/L", "umol/L"), ("\u00b5mol/L", "umol/L"), ("micromol/L", "umol/L")),
        59,
        104,
        0,
    ),
    (("HbA1c",), "HbA1c", (("mmol/mol", "mmol/mol"),), 20, 41, 0),
    (("ALT", "Alanine aminotransferase"), "ALT", (("U/L", "U/L"), ("IU/L", "U/L")), 0, 40, 0),
    (("Bilirubin", "Total bilirubin"), "bilirubin", (("umol/L", "umol/L"),), 0, 21, 0),
    (("Albumin",), "albumin", (("g/L", "g/L"),), 35, 50, 0),
    (("TSH",), "TSH", (("mU/L", "m[IU]/L"), ("mIU/L", "m[IU]/L")), 0.27, 4.2, 2),
    (("Free T4", "FT4"), "free T4", (("pmol/L", "pmol/L"),), 12, 22, 1),
    (("Ferritin",), "ferritin", (("ug/L", "ug/L"), ("\u00b5g/L", "ug/L")), 30, 400, 0),
    (("Glucose", "Fasting glucose"), "glucose", (("mmol/L", "mmol/L"),), 3.9, 5.5, 1),
    (("Calcium", "Adjusted calcium"), "calcium", (("mmol/L", "mmol/L"),), 2.2, 2.6, 2),
    (("Vitamin B12", "B12"), "vitamin B12", (("ng/L", "ng/L"),), 197, 771, 0),
)
# Tests whose range is printed as a bound: name, canonical, unit, UCUM, op, bound, decimals.
BOUNDED = (
    (("CRP", "C-reactive protein"), "CRP", "mg/L", "mg/L", "<", 5, 0),
    (("Total cholesterol", "Cholesterol"), "total cholesterol", "mmol/L", "mmol/L", "<", 5.0, 1),
    (("eGFR",), "eGFR", "mL/min/1.73m2", "mL/min/{1.73_m2}", ">", 90, 0),
)
PANELS = (
    ("Full blood count", ("haemoglobin", "white cell count", "platelets")),
    ("Urea and electrolytes", ("sodium", "potassium", "urea", "creatinine", "eGFR")),
    ("Liver function tests", ("ALT", "bilirubin", "albumin")),
    ("Thyroid function tests", ("TSH", "free T4")),
    ("Lipid profile", ("total cholesterol",)),
    ("Diabetes monitoring", ("HbA1c", "glucose")),
    ("Haematinics", ("ferritin", "vitamin B12")),
    ("Inflammatory markers", ("CRP",)),
    ("Bone profile", ("calcium", "albumin")),
)
CONDITIONS = (
    (("hypertension", "high blood pressure"), "hypertension"),
    (("type 2 diabetes", "type 2 diabetes mellitus", "T2DM"), "type 2 diabetes mellitus"),
    (("asthma",), "asthma"),
    (("COPD", "chronic obstructive pulmonary disease"), "chronic obstructive pulmonary disease"),
    (("atrial fibrillation", "AF"), "atrial fibrillation"),
    (("heart failure",), "heart failure"),
    (("angina",), "angina"),
    (("hypothyroidism",), "hypothyroidism"),
    (("depression",), "depression"),
    (("osteoarthritis",), "osteoarthritis"),
    (("gout",), "gout"),
    (("chronic kidney disease", "CKD"), "chronic kidney disease"),
    (("hypercholesterolaemia",), "hypercholesterolaemia"),
    (("GORD", "gastro-oesophageal reflux disease"), "gastro-oesophageal reflux disease"),
    (("migraine",), "migraine"),
    (("epilepsy",), "epilepsy"),
)
PAST_CONDITIONS = (
    (("myocardial infarction", "MI", "heart attack"), "myocardial infarction"),
    (("stroke",), "stroke"),
    (("TIA", "transient ischaemic attack"), "transient ischaemic attack"),
    (("DVT", "deep vein thrombosis"), "deep vein thrombosis"),
    (("pulmonary embolism",), "pulmonary embolism"),
    (("pneumonia",), "pneumonia"),
)
FAMILY_CONDITIONS = (
    (("breast cancer",), "breast cancer"),
    (("ischaemic heart disease",), "ischaemic heart disease"),
    (("bowel cancer",), "bowel cancer"),
    (("stroke",), "stroke"),
    (("type 2 diabetes",), "type 2 diabetes mellitus"),
    (("dementia",), "dementia"),
    (("myocardial infarction",), "myocardial infarction"),
)
RULED_OUT = (
    (("pneumonia",), "pneumonia"),
    (("pulmonary embolism",), "pulmonary embolism"),
    (("DVT", "deep vein thrombosis"), "deep vein thrombosis"),
    (("heart failure",), "heart failure"),
)
SYMPTOMS = (
    "chest pain",
    "shortness of breath",
    "cough",
    "fever",
    "headache",
    "nausea",
    "vomiting",
    "palpitations",
    "dizziness",
    "fatigue",
    "abdominal pain",
    "syncope",
    "weight loss",
    "night sweats",
    "haemoptysis",
)
FINDINGS = (
    "crackles",
    "wheeze",
    "peripheral oedema",
    "murmur",
    "tenderness",
    "jaundice",
    "lymphadenopathy",
    "finger clubbing",
    "pallor",
)
ALLERGENS = (
    ("Penicillin", "penicillin", ("rash", "anaphylaxis", "hives", "facial swelling")),
    ("Codeine", "codeine", ("nausea", "vomiting", "constipation")),
    ("Latex", "latex", ("contact dermatitis", "itching")),
    ("Peanuts", "peanuts", ("anaphylaxis", "lip swelling")),
    ("Trimethoprim", "trimethoprim", ("rash",)),
    ("Ibuprofen", "ibuprofen", ("wheeze", "angioedema")),
    ("Sulfonamides", "sulfonamides", ("rash",)),
)
VACCINES = (
    (("Influenza vaccine", "influenza vaccination", "flu jab"), "Influenza", "influenza vaccine"),
    (("Pneumococcal vaccine",), "Pneumococcal", "pneumococcal vaccine"),
    (("COVID-19 booster", "COVID-19 vaccine"), "COVID-19", "COVID-19 vaccine"),
    (("Shingles vaccine",), "Shingles", "shingles vaccine"),
    (("Tetanus booster",), "Tetanus", "tetanus vaccine"),
)
OPERATIONS = (
    (("Appendicectomy", "appendicectomy"), "appendicectomy"),
    (("Cholecystectomy", "laparoscopic cholecystectomy"), "cholecystectomy"),
    (("Hip replacement", "total hip replacement"), "hip replacement"),
    (("Knee replacement",), "knee replacement"),
    (("Cataract surgery", "cataract extraction"), "cataract surgery"),
    (("Hysterectomy",), "hysterectomy"),
    (("Tonsillectomy",), "tonsillectomy"),
    (("Hernia repair", "inguinal hernia repair"), "hernia repair"),
)
MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
