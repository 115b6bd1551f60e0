"""What a test site does, as plain functions and classes the live namespaces and CLI call.

- :mod:`.site`: the running site (admit, start, answer, flag, finish, pause, resume, extend,
  release, disqualify, deadlines, outages), returning replies and pushes;
- :mod:`.sessions`: exams, banks, sessions and rosters (set-up work);
- :mod:`.users`: proctor and admin accounts;
- :mod:`.events`: where pushes go (rooms of the candidate, proctor and display channels).
"""
