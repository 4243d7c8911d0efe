<li class="refrow">
  <span class="cell-status">{{!pill(item.run.status if item.run else None)}}</span>
  <span class="ref-main">
    <a class="ref-name" href="{{urls.runs(name, branch=item.name)}}">{{item.name}}</a>
    % if item.kind == 'branch' and item.name == refs.default_branch:
    <span class="tag-label">default</span>
    % end
    <span class="ref-subject">{{item.subject}}</span>
  </span>
  <span class="cell-meta">
    <a class="sha" href="{{urls.commit(name, item.commit)}}"><code>{{item.commit[:7]}}</code></a>
    % if item.run:
    <a href="{{urls.run(name, item.run.number)}}">run #{{item.run.number}}</a>
      % if not item.run_is_for_tip:
      <span class="muted" title="The tip commit has no run; this is the branch's latest run.">older commit</span>
      % end
    % end
  </span>
  <span class="cell-time">{{!when(item.run.created) if item.run else ''}}</span>
</li>
