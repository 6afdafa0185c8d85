"""The maths behind the six lecture pages, one module per page (the pages are thin and call
only these and ``vae.app.inference``):

- ``noise``: the reparameterization trick t = m + s * eps for one image, and a smooth eps walk;
- ``gradients``: reparameterization vs score-function (REINFORCE) estimators of
  grad_phi E_q log p(x|t), their variance against N, a toy with a closed form;
- ``ae_vs_vae``: three twins (plain AE, noisy AE, VAE), trained here or bundled, and how well
  each generates, scored by a digit classifier (``vae.app.classifier``);
- ``elbo``: log p(x) = ELBO + KL(q(t|x) || p(t|x)): importance sampling, the exact posterior of
  a 2-D model on a grid;
- ``interpolation``: straight and great-circle walks between two images' codes;
- the generation page needs nothing of its own: prior samples and the decoded manifold are
  ``vae.app.inference.prior_draws`` and ``vae.app.inference.manifold`` (the explore pages
  use them too);
- ``common``: plumbing shared by these modules (one image in, q's parameters, log p(x|t)).

Conventions: images go out as numpy ``(n, C, H, W)`` floats in [0, 1] (the layout of
everything crossing from ``vae`` to the pages); randomness from a local ``torch.Generator``
seeded by a ``seed`` argument; the shared model is never mutated (no mode change, no
``requires_grad`` change, no ``.grad`` written); log densities in nats per image.
"""
