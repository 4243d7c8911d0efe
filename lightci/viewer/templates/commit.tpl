% name = repository.name
% rebase('base', crumbs=[(name, urls.repo(name)), ('commit ' + (commit.id[:7] if commit else ''), None)])
<h1 class="page-title">Commit <code>{{commit.id[:10] if commit else ''}}</code></h1>
% if commit:
<section class="commit-box">
  <pre class="commit-message">{{commit.message.strip()}}</pre>
  <p class="muted">{{commit.author}} · <code>{{commit.id}}</code></p>
</section>
% end
<h2 class="section-title">Runs of this commit</h2>
% if not runs:
<p class="muted">No runs are recorded for this commit.</p>
% end
<ol class="runlist">
% for r in runs:
  <li class="runrow">
    <span class="cell-status">{{!pill(r.status)}}</span>
    <a class="cell-main" href="{{urls.run(name, r.number)}}"><span class="run-number">#{{r.number}}</span>
      <span class="run-subject">{{short_ref(r.ref)}} · {{r.event}}</span></a>
    <span class="cell-time">{{!when(r.created)}}</span>
  </li>
% end
</ol>
