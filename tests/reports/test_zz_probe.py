def test_probe(real_run):
    print(real_run.first.output[-5000:])
    print("=====")
    print(real_run.second.output[-3000:])
    print(sorted(p.relative_to(real_run.project) for p in real_run.artefacts()))
