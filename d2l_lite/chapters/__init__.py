"""What the chapters run, beyond d2l: nothing here is in d2l.

* ``section_11_4``: §11.4's decoder exactly as the book prints it and the versions readers
  write for its exercises: the exhibits.
* ``experiment``: build, train, translate and score a model in one call each.
* ``dot_claims``: the scaled dot product's claims, measured (score statistics, noise).
* ``prose``: numbers from the outputs into the chapters' text.
"""
