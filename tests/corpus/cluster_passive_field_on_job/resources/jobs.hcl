# case: a passive block field meant for clusters (state) used on a job
job "heartbeat" {
  name                = "DR heartbeat"
  max_concurrent_runs = 1

  passive {
    state = "running"
  }
}
