"""The only code that changes the participant lifecycle (C1–C6).

intake.py: referrals, assessments, C1 eligibility file, C2 activation, the roster,
           compliance review, and the register/referral imports (imports.py)
care.py:   C3 service levels, C4 pathway release, C5 activities and barriers,
           C6 progression reviews, disengagement and re-engagement
"""
