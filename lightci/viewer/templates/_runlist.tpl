<ol class="runlist">
% for row in rows:
  % r = row.run
  <li class="runrow st-row-{{r.status}}">
    <span class="cell-status">{{!pill(r.status)}}</span>
    <a class="cell-main" href="{{urls.run(repo_name, r.number)}}">
      <span class="run-number">#{{r.number}}</span>
      <span class="run-subject">{{row.subject or '(commit not in this repository)'}}</span>
    </a>
    <span class="cell-meta">
      <a class="ref" href="{{urls.runs(repo_name, branch=short_ref(r.ref))}}">{{short_ref(r.ref)}}</a>
      <a class="sha" href="{{urls.commit(repo_name, r.commit)}}"><code>{{r.commit[:7]}}</code></a>
      <span class="event">{{r.event}}</span>
    </span>
    <span class="cell-time">
      {{!when(r.created)}}
      % if r.is_finished:
      <span class="dur">{{duration_between(r.started, r.finished)}}</span>
      % end
    </span>
  </li>
% end
</ol>
