% rebase('base', crumbs=[])
<h1 class="page-title">Repositories</h1>
% if not summaries:
<section class="empty-state"><p>No repositories are served. Start the viewer with a repository path or <code>--root FOLDER</code>.</p></section>
% end
<ul class="cards">
% for item in summaries:
  % name = item.repository.name
  <li class="card repo-card">
    <a class="card-title" href="{{urls.repo(name)}}">{{name}}</a>
    <span class="card-status">{{!pill(item.latest.status if item.latest else None)}}</span>
    <p class="muted">
    % if item.latest:
      <a href="{{urls.run(name, item.latest.number)}}">run #{{item.latest.number}}</a>
      on {{short_ref(item.latest.ref)}} · {{!when(item.latest.created)}} ·
      <a href="{{urls.runs(name)}}">{{item.run_count}} run{{'' if item.run_count == 1 else 's'}}</a>
    % else:
      no runs yet
    % end
    </p>
  </li>
% end
</ul>
