% name = repository.name
% rebase('base', crumbs=[(name, urls.repo(name)), ('runs', urls.runs(name)), ('#%d' % run.number, None)], api_url=urls.api(urls.run(name, run.number)), live_url=None if run.is_finished else urls.events(name, run.number))
<section class="run-head">
  <div class="title-row">
    <span data-live="run-status">{{!pill(run.status, large=True)}}</span>
    <h1>Run #{{run.number}}</h1>
  </div>
  % if commit:
  <p class="run-title">{{subject(commit.message)}}</p>
  % end
  <dl class="facts">
    <div><dt>Branch</dt><dd><a href="{{urls.runs(name, branch=branch)}}">{{branch}}</a></dd></div>
    <div><dt>Commit</dt><dd><a href="{{urls.commit(name, run.commit)}}"><code>{{run.commit[:10]}}</code></a></dd></div>
    <div><dt>Event</dt><dd>{{run.event}}{{(' from ' + run.origin) if run.origin else ''}}</dd></div>
    <div><dt>Created</dt><dd>{{!when(run.created)}}</dd></div>
    <div><dt>Duration</dt><dd data-live="run-duration">{{duration(run.duration) or '–'}}</dd></div>
  </dl>
  <div data-live="run-message">
  % if run.message:
  <div class="message{{' message-error' if run.status == 'error' else ''}}">
    <h2>{{'Why this run ended in error' if run.status == 'error' else 'Message'}}</h2>
    <pre>{{run.message}}</pre>
  </div>
  % end
  </div>
</section>

% if len(levels) > 1 or any(job.needs for job in run.jobs):
<section class="graph" aria-label="Jobs in order of their needs">
  % for index, group in enumerate(levels):
  % if index:
  <span class="graph-arrow" aria-hidden="true">→</span>
  % end
  <div class="graph-level">
    % for job in group:
    <a class="graph-job" href="#job-{{job.slug}}" data-live-job="{{job.slug}}"><span data-live="job-status">{{!pill(job.status)}}</span> <span class="graph-name">{{job.name}}</span></a>
    % end
  </div>
  % end
</section>
% end

% if not run.jobs:
<section class="empty-state"><p>{{'Waiting for a worker to start this run.' if run.status == 'queued' else 'This run has no jobs.'}}</p></section>
% end

<section class="jobs">
% for job in run.jobs:
  % include('_job', job=job, name=name, run=run, log=logs.get(job.slug), link_title=True)
% end
</section>

% if artifacts or not run.is_finished:
<section class="artifacts">
  <h2 class="section-title">Artifacts</h2>
  <ul class="artifact-list" data-live="artifacts">
  % for item in artifacts:
    <li>
      <span class="artifact-kind" aria-hidden="true">{{'▣' if item.kind == 'tree' else '▤'}}</span>
      % if item.kind == 'tree':
      <a href="{{urls.artifact(name, run.number, item.name)}}" download>{{item.name}}/</a>
      <span class="muted">folder · {{size(item.size)}} · from {{item.job}} ·
        <a href="{{urls.artifact(name, run.number, item.name)}}?format=zip" download>zip</a></span>
      % else:
      <a href="{{urls.artifact(name, run.number, item.name)}}" download>{{item.name}}</a>
      <span class="muted">{{size(item.size)}} · from {{item.job}}</span>
      % end
    </li>
  % end
  % if not artifacts:
    <li class="muted">{{'None yet.' if not run.is_finished else 'None.'}}</li>
  % end
  </ul>
</section>
% end
