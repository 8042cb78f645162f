# nbgrader's configuration for the vae_lite course; `make assignments` copies it into the course
# folder (build/course/nbgrader_config.py), where every `nbgrader` command is run.
c = get_config()  # noqa: F821 (nbgrader defines it)

c.CourseDirectory.course_id = "vae_lite"

# An answer cell is the notebook's own stub followed by the solution region, so the release
# keeps the stub exactly as the student edition shows it, and nothing takes the solution's place.
c.ClearSolutions.code_stub = {"python": ""}

# Autograding runs each notebook top to bottom; in class mode a training cell takes up to a
# minute or two on a busy 2-core machine (TEACHING.md), so allow far more than nbgrader's 30 s.
c.Execute.timeout = 900
