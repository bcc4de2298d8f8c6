# case: two jobs that trigger each other via run_job_task (a reference cycle)
job "upstream" {
  name                = "Upstream"
  max_concurrent_runs = 1

  task {
    task_key = "run_downstream"
    run_job_task {
      job_id = "${resources.jobs.downstream.id}"
    }
  }
}

job "downstream" {
  name                = "Downstream"
  max_concurrent_runs = 1

  task {
    task_key = "run_upstream"
    run_job_task {
      job_id = "${resources.jobs.upstream.id}"
    }
  }
}
